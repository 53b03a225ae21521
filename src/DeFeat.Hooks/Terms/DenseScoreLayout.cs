namespace DeFeat.Hooks.Terms;

/// <summary>
/// How a dense head writes its class scores (the tensors a <see cref="DenseHeadKdTerm"/> taps), with K =
/// <see cref="Losses.Dense.DecoupledDenseKdLossOptions.Classes"/> score columns and A =
/// <see cref="Losses.Dense.DecoupledDenseKdLossOptions.AnchorsPerLocation"/> anchors per location. The term turns every
/// layout into the per-level maps [B, A·K, H_l, W_l] of <see cref="Losses.Dense.DecoupledDenseKdLoss"/>; the loss is the
/// same whatever layout the head writes.
/// </summary>
public enum DenseScoreLayout
{
    /// <summary>
    /// One map [B, A·K, H_l, W_l] per level, channel a·K + k holding class k of anchor a (the raw output of the
    /// classification conv: mmdetection's and torchvision's heads before they flatten). The default. The level sizes are
    /// the maps' sizes; the strides are derived from them unless <see cref="DenseHeadKdTermOptions.Strides"/> is given.
    /// </summary>
    PerLevelMaps,

    /// <summary>
    /// One tensor [B, H_l·W_l·A, K] per level: the map permuted to [B, H_l, W_l, A·K] and reshaped, so row
    /// (h·W_l + w)·A + a holds the K scores of anchor a at cell (h, w) (ML.NET's AutoFormerV2 <c>RetinaHead</c>,
    /// mmdetection's and torchvision's flattening). A tensor does not say its H_l × W_l, so
    /// <see cref="DenseHeadKdTermOptions.Strides"/> is required: H_l = ⌈H / s_l⌉, W_l = ⌈W / s_l⌉ of the batch's image size.
    /// </summary>
    FlattenedPerLevel,

    /// <summary>
    /// One tensor [B, Σ_l H_l·W_l·A, K] holding every level's <see cref="FlattenedPerLevel"/> rows one level after the
    /// other, finest first (torchvision's <c>RetinaNetClassificationHead</c>, which concatenates the levels).
    /// <see cref="DenseHeadKdTermOptions.Strides"/> is required and gives the levels, in the order of the rows: level l has
    /// ⌈H / s_l⌉·⌈W / s_l⌉·A rows.
    /// </summary>
    Concatenated,
}
