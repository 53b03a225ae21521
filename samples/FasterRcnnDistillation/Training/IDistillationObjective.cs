using FasterRcnnDistillation.Data;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Training;

/// <summary>Extra, named loss terms added to a student's detector losses at every training step.</summary>
public interface IDistillationObjective
{
    /// <summary>Trainable parameters owned by the objective (e.g. adaptation layers), optimised with the student.</summary>
    IEnumerable<Parameter> Parameters { get; }

    /// <summary>Runs before the student's training forward on <paramref name="batch"/> (e.g. the teacher's forward).</summary>
    void BeforeStudent(DetectionBatch batch);

    /// <summary>Named 0-D loss tensors of this step, called after the student's training forward on the batch.</summary>
    IReadOnlyDictionary<string, Tensor> Losses(DetectionBatch batch);

    /// <summary>Pauses the objective's hooks until the handle is disposed, so the models can be evaluated mid-training as written.</summary>
    IDisposable Suspend();

    /// <summary>Saves what training changes in the objective (its adaptation layers and step) to <paramref name="path"/>.</summary>
    void Save(string path);

    /// <summary>Restores what <see cref="Save"/> wrote.</summary>
    void Load(string path);
}
