using static TorchSharp.torch;

namespace FasterRcnnDistillation.Training;

/// <summary>
/// What an <see cref="IDistillationObjective"/> adds to one training step: the loss to add to the detector's
/// (<paramref name="Total"/>), its parts for the log (<paramref name="Parts"/>, weighted by their λ/β, before any balance
/// scale) and extra values to log (<paramref name="Logged"/>, e.g. the balance scale); only <paramref name="Total"/> is trained on.
/// </summary>
/// <param name="Parts">Named 0-D loss tensors, e.g. <c>neck_object</c>.</param>
/// <param name="Total">The 0-D loss added to the detector's loss.</param>
/// <param name="Logged">Named 0-D tensors logged with the step, not trained on.</param>
public sealed record DistillationStep(IReadOnlyDictionary<string, Tensor> Parts, Tensor Total, IReadOnlyDictionary<string, Tensor> Logged);
