using static TorchSharp.torch;

namespace DeFeat.Hooks.Terms;

/// <summary>
/// A loss that compares a recorded student/teacher feature pair: the one seam for adding a loss to a distiller. A
/// <see cref="FeatureTerm"/> records the pair, applies its adaptation layers to the student side, builds the object
/// masks when <see cref="UsesObjectMasks"/> is true, and calls <see cref="Compute"/> once per step.
/// Built in: <see cref="DecoupledFeatureTermLoss"/> (DeFeat) and <see cref="PkdTermLoss"/> (PKD); see the README's
/// "your own loss" for writing one.
/// </summary>
public interface IFeatureTermLoss
{
    /// <summary>Whether <see cref="Compute"/> needs the object masks (the term then builds them with its mask rule).</summary>
    bool UsesObjectMasks { get; }

    /// <summary>Computes the loss of one step.</summary>
    /// <param name="studentFeatures">
    /// The student's recorded maps, [B, C, H_l, W_l] per level, after the term's adaptation layers (so with the teacher's
    /// channel counts when there are any).
    /// </param>
    /// <param name="teacherFeatures">The teacher's recorded maps, [B, C_t,l, H_l, W_l] per level, without gradient.</param>
    /// <param name="objectMasks">[B, H_l, W_l] float32 masks in [0, 1] per level at the teacher's sizes, or null when <see cref="UsesObjectMasks"/> is false.</param>
    /// <returns>The loss's parts (at least one), each a 0-D tensor; the term sums them into the distiller's total.</returns>
    IReadOnlyList<LossPart> Compute(IReadOnlyList<Tensor> studentFeatures, IReadOnlyList<Tensor> teacherFeatures, IReadOnlyList<Tensor>? objectMasks);
}
