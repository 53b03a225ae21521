using DeFeat.Losses;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Terms;

/// <summary>One named part of what an <see cref="IFeatureTermLoss"/> returns for a step.</summary>
/// <remarks>Immutable: the value and its per-level shares are fixed when it is created.</remarks>
public sealed class LossPart
{
    /// <summary>Creates a part.</summary>
    /// <param name="name">
    /// The part's name: the loss appears as <c>{term}_{name}</c> (e.g. <c>object</c> → <c>neck_object</c>); empty for a loss
    /// with a single part, which appears as <c>{term}</c>. Letters, digits and '_'.
    /// </param>
    /// <param name="value">The part, a 0-D tensor with a gradient path to the student (and the adaptation layers).</param>
    /// <param name="byLevel">Each level's share of <paramref name="value"/> (0-D tensors, summing to it), or null when the loss is not a sum over levels.</param>
    /// <exception cref="ArgumentNullException"><paramref name="name"/>, <paramref name="value"/> or a level share is null.</exception>
    /// <exception cref="ObjectDisposedException"><paramref name="value"/> or a level share is a disposed tensor.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> holds other characters than letters, digits and '_'.</exception>
    public LossPart(string name, Tensor value, IReadOnlyList<Tensor>? byLevel = null)
    {
        Guard.NotNull(name, nameof(name));
        Name = name.All(character => char.IsAsciiLetterOrDigit(character) || character == '_')
            ? name
            : throw new ArgumentException($"A loss part's name must hold only letters, digits and '_'; got '{name}'.", nameof(name));
        Value = Guard.NotNull(value, nameof(value));
        ByLevel = byLevel ?? [];
        for (var level = 0; level < ByLevel.Count; level++)
        {
            Guard.NotNull(ByLevel[level], $"{nameof(byLevel)}[{level}]");
        }
    }

    /// <summary>The part's name (empty for a single-part loss).</summary>
    public string Name { get; }

    /// <summary>The part, a 0-D tensor.</summary>
    public Tensor Value { get; }

    /// <summary>Each level's share of <see cref="Value"/>; empty when the loss is not a sum over levels.</summary>
    public IReadOnlyList<Tensor> ByLevel { get; }
}
