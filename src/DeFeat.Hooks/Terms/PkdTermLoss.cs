using DeFeat.Losses.Features;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Terms;

/// <summary>
/// PKD (Cao et al., NeurIPS 2022: <see cref="PkdLoss"/>) as the loss of a <see cref="FeatureTerm"/>: one part, named
/// after the term (<c>{term}</c>); no object masks. An instance holds only its options: share it freely.
/// </summary>
public sealed class PkdTermLoss : IFeatureTermLoss
{
    /// <summary>Creates the loss.</summary>
    /// <param name="options">Weight, normalisation and resizing; null = defaults (see <see cref="PkdLossOptions"/>).</param>
    public PkdTermLoss(PkdLossOptions? options = null) => Options = options ?? new PkdLossOptions();

    /// <summary>Weight, normalisation and resizing.</summary>
    public PkdLossOptions Options { get; }

    /// <inheritdoc />
    public bool UsesObjectMasks => false;

    /// <inheritdoc />
    public IReadOnlyList<LossPart> Compute(IReadOnlyList<Tensor> studentFeatures, IReadOnlyList<Tensor> teacherFeatures, IReadOnlyList<Tensor>? objectMasks)
    {
        // The loss module holds no state but its options: one per call, disposed with it, so that no term shares one.
        using var module = new PkdLoss(Options);
        return [new LossPart(string.Empty, module.call(studentFeatures, teacherFeatures))];
    }
}
