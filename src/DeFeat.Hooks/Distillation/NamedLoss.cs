using static TorchSharp.torch;

namespace DeFeat.Hooks.Distillation;

/// <summary>One named loss of a step, as <see cref="DistillationLosses"/> lists it.</summary>
/// <param name="Name">Its name, e.g. <c>neck_background</c> or <c>neck_background[0]</c>.</param>
/// <param name="Value">The loss, a 0-D tensor.</param>
public readonly record struct NamedLoss(string Name, Tensor Value);
