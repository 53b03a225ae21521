using static TorchSharp.torch;

namespace FasterRcnnDistillation.Training;

/// <summary>Schedule of one training run: AdamW, linear warm-up then cosine decay to 5 % of the peak rate.</summary>
public sealed record TrainingOptions
{
    public int Epochs { get; init; } = 12;

    public int BatchSize { get; init; } = 8;

    public double LearningRate { get; init; } = 1e-3;

    public double WeightDecay { get; init; } = 1e-4;

    public int WarmupSteps { get; init; } = 20;

    public int Seed { get; init; } = 1;

    public Device Device { get; init; } = CPU;
}
