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

    /// <summary>
    /// The distillation losses of the step, after the student's training forward; <paramref name="taskLoss"/> is the
    /// student's own (detection) loss of the step, which a balance or a gradient diagnostic compares with.
    /// </summary>
    DistillationStep Losses(DetectionBatch batch, Tensor taskLoss);

    /// <summary>Pauses the objective's hooks until the handle is disposed, so the models can be evaluated mid-training as written.</summary>
    IDisposable Suspend();

    /// <summary>Saves what training changes in the objective (its adaptation layers and step) to <paramref name="path"/>.</summary>
    void Save(string path);

    /// <summary>Restores what <see cref="Save"/> wrote.</summary>
    void Load(string path);
}
