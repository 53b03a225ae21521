namespace FasterRcnnDistillation.Training;

/// <summary>
/// What a training run recorded: every step's loss terms by name ("total" included), in step order, from the first
/// step even when the run was resumed; and the validation points measured during it.
/// </summary>
public sealed record TrainingRun(List<Dictionary<string, double>> History, List<ValidationPoint> Validation);
