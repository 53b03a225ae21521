using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses;

/// <summary>
/// The result of a decoupled DeFeat loss: the object part and the background part, each already multiplied by its
/// weight, and their sum. All are 0-D tensors on the inputs' device — float32 for float16, bfloat16 and float32
/// inputs (the losses accumulate in float32), float64 for float64 inputs — with a gradient path to the student inputs
/// (and to the adaptation layers, when there are any).
/// </summary>
/// <remarks>
/// The type is immutable and <see cref="Total"/> is computed from the two terms when it is created, so it can never
/// disagree with them. A loss computed level by level also gives each level's share of the two terms
/// (<see cref="ObjectByLevel"/>, <see cref="BackgroundByLevel"/>: they sum to <see cref="Object"/> and
/// <see cref="Background"/>), for diagnostics; add <see cref="Total"/>, not those, to the detector's loss.
/// </remarks>
public sealed class DecoupledLoss
{
    /// <summary>Creates the result from its two weighted terms; <see cref="Total"/> is their sum.</summary>
    /// <param name="object">Weighted object (foreground / positive-proposal) term, a 0-D tensor.</param>
    /// <param name="background">Weighted background (negative-proposal) term, a 0-D tensor.</param>
    /// <param name="objectByLevel">Each level's share of <paramref name="object"/> (0-D tensors), or null when the loss is not a sum over levels.</param>
    /// <param name="backgroundByLevel">Each level's share of <paramref name="background"/>, as many as <paramref name="objectByLevel"/>.</param>
    /// <exception cref="ArgumentNullException">A term is null.</exception>
    /// <exception cref="ArgumentException">Only one of the per-level lists is given, or they differ in length.</exception>
    public DecoupledLoss(Tensor @object, Tensor background, IReadOnlyList<Tensor>? objectByLevel = null, IReadOnlyList<Tensor>? backgroundByLevel = null)
    {
        Object = Guard.NotNull(@object, nameof(@object));
        Background = Guard.NotNull(background, nameof(background));
        if ((objectByLevel is null) != (backgroundByLevel is null) || (objectByLevel is not null && objectByLevel.Count != backgroundByLevel!.Count))
        {
            throw new ArgumentException(
                $"{nameof(objectByLevel)} and {nameof(backgroundByLevel)} must both be null or hold the same number of levels; got "
                + $"{objectByLevel?.Count.ToString() ?? "null"} and {backgroundByLevel?.Count.ToString() ?? "null"}.",
                nameof(backgroundByLevel));
        }

        ObjectByLevel = objectByLevel ?? [];
        BackgroundByLevel = backgroundByLevel ?? [];
        Total = @object.add(background, Scalars.One);
    }

    /// <summary>Weighted object (foreground / positive-proposal) term, a 0-D tensor.</summary>
    public Tensor Object { get; }

    /// <summary>Weighted background (negative-proposal) term, a 0-D tensor.</summary>
    public Tensor Background { get; }

    /// <summary><see cref="Object"/> + <see cref="Background"/>, a 0-D tensor: add it to the detector's own loss.</summary>
    public Tensor Total { get; }

    /// <summary>Level l's share of <see cref="Object"/> (0-D tensors, finest level first); empty when the loss is not a sum over levels.</summary>
    public IReadOnlyList<Tensor> ObjectByLevel { get; }

    /// <summary>Level l's share of <see cref="Background"/>; empty when the loss is not a sum over levels.</summary>
    public IReadOnlyList<Tensor> BackgroundByLevel { get; }

    /// <summary>Moves every tensor of the result to the dispose scope outside the current one (for a loss's forward).</summary>
    internal DecoupledLoss MoveToOuterDisposeScope()
    {
        foreach (var tensor in new[] { Object, Background, Total }.Concat(ObjectByLevel).Concat(BackgroundByLevel))
        {
            tensor.MoveToOuterDisposeScope();
        }

        return this;
    }
}
