using static TorchSharp.torch;

namespace DeFeat.Hooks.Distillation;

/// <summary>One named loss of a step, as <see cref="DistillationLosses"/> lists it.</summary>
/// <param name="name">Its name, e.g. <c>neck_background</c> or <c>neck_background[0]</c>.</param>
/// <param name="value">The loss, a 0-D tensor.</param>
public sealed class NamedLoss(string name, Tensor value)
{
    /// <summary>Its name, e.g. <c>neck_background</c> or <c>neck_background[0]</c>.</summary>
    public string Name { get; } = name;

    /// <summary>The loss, a 0-D tensor.</summary>
    public Tensor Value { get; } = value;
}
