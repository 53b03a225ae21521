using DeFeat.Losses.Features;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Terms;

/// <summary>
/// PKD (Cao et al., NeurIPS 2022: <see cref="PkdLoss"/>) as the loss of a <see cref="FeatureTerm"/>: one part, named
/// after the term (<c>{term}</c>); no object masks.
/// </summary>
public sealed class PkdTermLoss : IFeatureTermLoss
{
    /// <summary>Creates the loss.</summary>
    /// <param name="options">Weight, normalisation and resizing; null = defaults (see <see cref="PkdLossOptions"/>).</param>
    public PkdTermLoss(PkdLossOptions? options = null) => Loss = new PkdLoss(options);

    /// <summary>The loss module.</summary>
    public PkdLoss Loss { get; }

    /// <inheritdoc />
    public bool UsesObjectMasks => false;

    /// <inheritdoc />
    public IReadOnlyList<LossPart> Compute(IReadOnlyList<Tensor> studentFeatures, IReadOnlyList<Tensor> teacherFeatures, IReadOnlyList<Tensor>? objectMasks)
        => [new LossPart(string.Empty, Loss.call(studentFeatures, teacherFeatures))];
}
