using DeFeat.Losses.Features;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Terms;

/// <summary>
/// DeFeat's decoupled feature imitation (<see cref="DecoupledFeatureLoss"/>) as the loss of a <see cref="FeatureTerm"/>:
/// parts <c>object</c> and <c>background</c> (λ_obj·L_obj and λ_bg·L_bg), each with its per-level shares. Use it for the
/// neck and for backbone stages (an instance holds only its options: share it freely) (with <see cref="Losses.Masks.BackboneMaskBuilder"/> as the term's mask rule).
/// </summary>
public sealed class DecoupledFeatureTermLoss : IFeatureTermLoss
{
    /// <summary>Name of the object part.</summary>
    public const string ObjectPart = "object";

    /// <summary>Name of the background part.</summary>
    public const string BackgroundPart = "background";

    /// <summary>Creates the loss.</summary>
    /// <param name="options">λ_obj and λ_bg; null = <see cref="DecoupledFeatureLossOptions.Coco"/> (4 / 16).</param>
    public DecoupledFeatureTermLoss(DecoupledFeatureLossOptions? options = null) => Options = options ?? DecoupledFeatureLossOptions.Coco;

    /// <summary>λ_obj and λ_bg.</summary>
    public DecoupledFeatureLossOptions Options { get; }

    /// <inheritdoc />
    public bool UsesObjectMasks => true;

    /// <inheritdoc />
    public IReadOnlyList<LossPart> Compute(IReadOnlyList<Tensor> studentFeatures, IReadOnlyList<Tensor> teacherFeatures, IReadOnlyList<Tensor>? objectMasks)
    {
        // The loss module holds no state but its options: one per call, disposed with it, so that no term shares one.
        using var module = new DecoupledFeatureLoss(Options);
        var loss = module.call(studentFeatures, teacherFeatures, objectMasks!);
        return [new LossPart(ObjectPart, loss.Object, loss.ObjectByLevel), new LossPart(BackgroundPart, loss.Background, loss.BackgroundByLevel)];
    }
}
