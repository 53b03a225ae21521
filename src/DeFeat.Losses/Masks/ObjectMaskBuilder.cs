using static TorchSharp.torch;

namespace DeFeat.Losses.Masks;

/// <summary>Builds per-level object masks from GT boxes (STUB: being implemented).</summary>
public abstract class ObjectMaskBuilder
{
    /// <summary>
    /// gtBoxes: one [N_i, 4] xyxy tensor per image in input-image pixels; featureSizes and strides: one per level.
    /// Returns one [B, H_l, W_l] float32 mask per level on the boxes' device.
    /// </summary>
    public Tensor[] Build(IReadOnlyList<Tensor> gtBoxes, IReadOnlyList<FeatureMapSize> featureSizes, IReadOnlyList<double> strides)
        => throw new NotImplementedException();
}
