using FasterRcnnDistillation.Data;
using FasterRcnnDistillation.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Training;

/// <summary>Extra, named loss terms added to a student's detector losses at every training step.</summary>
public interface IDistillationObjective
{
    /// <summary>Trainable parameters owned by the objective (e.g. adaptation layers), optimised with the student.</summary>
    IEnumerable<Parameter> Parameters { get; }

    /// <summary>Named 0-D loss tensors for this step, given the student's training forward on the batch.</summary>
    IReadOnlyDictionary<string, Tensor> Losses(FasterRcnn student, DetectionBatch batch, TrainingOutput studentOutput);
}
