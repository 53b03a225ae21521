using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Masks;

/// <summary>
/// A soft object mask: the level assignment (with its own <see cref="CanonicalSize"/>) and the region of
/// <see cref="DeFeatMaskBuilder"/>, filled with a
/// Gaussian centred on the box instead of 1. (The official repository has a <c>get_gaussian_mask</c> that is never
/// called; this is this library's own formulation.)
/// On a box's level (stride s), cell (i, j) of its region gets
/// exp(−((j + 0.5 − c_x)² / (2σ_x²) + (i + 0.5 − c_y)² / (2σ_y²))), with (c_x, c_y) = ((x1+x2)/2s, (y1+y2)/2s) the box
/// centre and (j + 0.5, i + 0.5) the cell centre, both in cells, σ_x = max(w/s, 1)·<see cref="SigmaFactor"/> and
/// σ_y = max(h/s, 1)·<see cref="SigmaFactor"/> (w = x2−x1, h = y2−y1 in pixels). Where regions overlap the larger
/// value wins; cells outside every region are 0; a box whose region is empty marks its single fallback cell with 1.
/// Values lie in [0, 1]. Cost: O(N·H·W) per level: the per-box products are laid out as [B, max_i N_i, H, W] and reduced by amax.
/// </summary>
public sealed class GaussianMaskBuilder : ObjectMaskBuilder
{
    /// <summary>The default <see cref="SigmaFactor"/>, 1/6: the box edge lies 3σ from its centre (value ≈ 0.011).</summary>
    public const double DefaultSigmaFactor = 1.0 / 6.0;

    /// <summary>
    /// σ per box side, as a fraction of the side in cells (floored at one cell), in (0, 1]; default
    /// <see cref="DefaultSigmaFactor"/>. Larger values flatten the mask towards the hard DeFeat mask.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not in (0, 1].</exception>
    public double SigmaFactor
    {
        get;
        init => field = Guard.Fraction(value, nameof(SigmaFactor));
    } = DefaultSigmaFactor;

    /// <summary>
    /// The canonical size of the level rule, in input-image pixels (finite, &gt; 0), as
    /// <see cref="DeFeatMaskBuilder.CanonicalSize"/> (default 56, for ~800 px inputs; about 56·S/800 for inputs whose
    /// shorter side is S px).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a finite number &gt; 0.</exception>
    public double CanonicalSize
    {
        get;
        init => field = Guard.Positive(value, nameof(CanonicalSize));
    } = DeFeatLevelRule.DefaultCanonicalSize;

    /// <inheritdoc />
    protected override Tensor[] BuildLevelMasks(GroundTruthBatch groundTruth, IReadOnlyList<MaskLevel> levels)
    {
        var boxes = groundTruth.Boxes;
        var boxLevels = DeFeatLevelRule.Assign(boxes, levels.Count, CanonicalSize);
        var (slots, slotCount) = Slots(groundTruth);
        var masks = new Tensor[levels.Count];
        for (var level = 0; level < levels.Count; level++)
        {
            var stride = levels[level].Stride;
            var size = levels[level].Size;
            var regions = BoxCellRegions.Of(boxes, levels[level]);
            using var levelIndex = level.ToScalar();
            var rowWeights = AxisWeights(boxes.select(1, 1), boxes.select(1, 3), stride, size.Height, regions.RowStart, regions.RowEnd, regions.IsSingleCell)
                * boxLevels.eq(levelIndex).unsqueeze(1);
            var columnWeights = AxisWeights(boxes.select(1, 0), boxes.select(1, 2), stride, size.Width, regions.ColumnStart, regions.ColumnEnd, regions.IsSingleCell);
            var perBox = rowWeights.unsqueeze(2) * columnWeights.unsqueeze(1);
            var padded = zeros([groundTruth.ImageCount, slotCount, size.Height, size.Width], ScalarType.Float32, groundTruth.Device);
            padded.index_put_(perBox, [groundTruth.ImageIndex, slots]);
            masks[level] = padded.amax([1]);
        }

        return masks;
    }

    /// <summary>
    /// Each box's position within its image ([N] int64) and the largest box count (at least 1), to lay the boxes out
    /// as [B, slotCount, ...] so that the per-image maximum is a plain amax (TorchSharp has no scatter-amax).
    /// </summary>
    private static (Tensor Slots, long SlotCount) Slots(GroundTruthBatch groundTruth)
    {
        var counts = groundTruth.BoxCounts;
        var firstOfImage = new long[counts.Count];
        for (var image = 1; image < counts.Count; image++)
        {
            firstOfImage[image] = firstOfImage[image - 1] + counts[image - 1];
        }

        var boxCount = groundTruth.Boxes.shape[0];
        using var count = boxCount.ToScalar();
        var slots = arange(Scalars.Zero, count, Scalars.One, ScalarType.Int64, groundTruth.Device)
            - tensor(firstOfImage, device: groundTruth.Device).index_select(0, groundTruth.ImageIndex);
        return (slots, Math.Max(1, counts.Max()));
    }

    /// <summary>
    /// The separable 1-D factor along one axis: [N, cells] float32, the Gaussian of the cell centres inside the box's
    /// region [start, end), 1 at a single fallback cell, 0 outside. low/high: [N] float64 box bounds in pixels.
    /// </summary>
    private Tensor AxisWeights(Tensor low, Tensor high, double stride, int cellCount, Tensor start, Tensor end, Tensor isSingleCell)
    {
        using var count = cellCount.ToScalar();
        using var diameter = (2 * stride).ToScalar();
        using var strideScalar = stride.ToScalar();
        using var sigmaFactor = SigmaFactor.ToScalar();
        var cells = arange(Scalars.Zero, count, Scalars.One, ScalarType.Int64, low.device).unsqueeze(0);
        var inside = cells.ge(start.unsqueeze(1)).logical_and(cells.lt(end.unsqueeze(1)));
        var centre = (low.add(high, Scalars.One) / diameter).unsqueeze(1);
        var sigma = ((high - low) / strideScalar).clamp_min(Scalars.One).mul(sigmaFactor).unsqueeze(1);
        var offset = cells.to(ScalarType.Float64).add(Scalars.HalfDouble, Scalars.One) - centre;
        var gaussian = (offset.pow(Scalars.Two) / (sigma.pow(Scalars.Two) * Scalars.MinusTwo)).exp()
            .masked_fill(isSingleCell.unsqueeze(1), Scalars.OneDouble);

        // where(), not a product with the region: a box with a NaN coordinate (value checks off) then contributes 0
        // outside its region instead of NaN everywhere, and nan_to_num keeps it from marking anything inside.
        return where(inside, gaussian.nan_to_num(0, 0, 0), zeros_like(gaussian)).to(ScalarType.Float32);
    }
}
