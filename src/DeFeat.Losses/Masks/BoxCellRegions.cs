using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Masks;

/// <summary>
/// The cells the boxes cover on one level under the official DeFeat region rule: rows
/// [trunc(y1/s), min(trunc(y2/s), H)) × columns [trunc(x1/s), min(trunc(x2/s), W)). Indices are clamped to
/// [0, H] / [0, W] first, so negative coordinates act as 0 (the official code would wrap around). A box whose
/// region is empty (degenerate, or lying past the map) covers the single cell (trunc(y1/s), trunc(x1/s)) clamped
/// into the map (the official code can index out of bounds there). Every region is therefore non-empty.
/// All tensors are [N] int64 (bounds; end exclusive) or [N] bool on the boxes' device.
/// </summary>
/// <remarks>
/// The region painting of the official rule, public so that a custom <see cref="ObjectMaskBuilder"/> can reuse it:
/// <c>BoxCellRegions.Of(groundTruth.Boxes, level).Paint(groundTruth.ImageIndex, weights, groundTruth.ImageCount, level.Size)</c>
/// inside <c>BuildLevelMasks</c> (see the README's "your own mask rule").
/// </remarks>
public sealed class BoxCellRegions
{
    private BoxCellRegions(Tensor rowStart, Tensor rowEnd, Tensor columnStart, Tensor columnEnd, Tensor isSingleCell)
    {
        RowStart = rowStart;
        RowEnd = rowEnd;
        ColumnStart = columnStart;
        ColumnEnd = columnEnd;
        IsSingleCell = isSingleCell;
    }

    /// <summary>[N] int64: the first row of each box's region.</summary>
    public Tensor RowStart { get; }

    /// <summary>[N] int64: the row after the last row of each box's region (exclusive end).</summary>
    public Tensor RowEnd { get; }

    /// <summary>[N] int64: the first column of each box's region.</summary>
    public Tensor ColumnStart { get; }

    /// <summary>[N] int64: the column after the last column of each box's region (exclusive end).</summary>
    public Tensor ColumnEnd { get; }

    /// <summary>[N] bool: the box's own region was empty and it covers the single fallback cell instead.</summary>
    public Tensor IsSingleCell { get; }

    /// <summary>The regions of <paramref name="boxes"/> on <paramref name="level"/>; the tensors belong to the caller's dispose scope.</summary>
    /// <param name="boxes">[N, 4] float64 (x1, y1, x2, y2) boxes in input-image pixels, e.g. <see cref="GroundTruthBatch.Boxes"/>.</param>
    /// <param name="level">The level's size in cells and stride in pixels per cell.</param>
    /// <returns>The N regions.</returns>
    public static BoxCellRegions Of(Tensor boxes, MaskLevel level)
    {
        var (height, width) = (level.Size.Height, level.Size.Width);
        using var stride = level.Stride.ToScalar();
        var cells = (boxes / stride).trunc().nan_to_num();
        var rowStart = ToIndex(cells.select(1, 1), 0, height);
        var rowEnd = ToIndex(cells.select(1, 3), 0, height);
        var columnStart = ToIndex(cells.select(1, 0), 0, width);
        var columnEnd = ToIndex(cells.select(1, 2), 0, width);
        var isSingleCell = rowEnd.le(rowStart).logical_or(columnEnd.le(columnStart));

        var singleRow = ToIndex(cells.select(1, 1), 0, height - 1);
        var singleColumn = ToIndex(cells.select(1, 0), 0, width - 1);
        return new BoxCellRegions(
            where(isSingleCell, singleRow, rowStart),
            where(isSingleCell, singleRow.add(Scalars.One, Scalars.One), rowEnd),
            where(isSingleCell, singleColumn, columnStart),
            where(isSingleCell, singleColumn.add(Scalars.One, Scalars.One), columnEnd),
            isSingleCell);
    }

    /// <summary>
    /// Paints the regions of the boxes with weight 1 into one [B, H, W] float32 0/1 mask per image with a 2-D
    /// difference array: +1/−1 at the four corners of every region (index_put_ with accumulate) into
    /// [B, H+1, W+1], then cumulative sums over rows and columns, then &gt; 0. O(N + B·H·W), no loop.
    /// </summary>
    /// <param name="imageIndex">[N] int64 image of each box.</param>
    /// <param name="weights">[N] float32, 1 for boxes to paint, 0 for boxes to leave out.</param>
    /// <param name="imageCount">B.</param>
    /// <param name="size">[H, W] of the level.</param>
    /// <returns>[B, H, W] float32, 1 in the cells of at least one painted box, else 0; in the caller's dispose scope.</returns>
    public Tensor Paint(Tensor imageIndex, Tensor weights, int imageCount, FeatureMapSize size)
    {
        var difference = zeros([imageCount, size.Height + 1, size.Width + 1], ScalarType.Float32, weights.device);
        var images = cat([imageIndex, imageIndex, imageIndex, imageIndex]);
        var rows = cat([RowStart, RowStart, RowEnd, RowEnd]);
        var columns = cat([ColumnStart, ColumnEnd, ColumnStart, ColumnEnd]);
        var signs = cat([weights, weights.neg(), weights.neg(), weights]);
        difference.index_put_(signs, [images, rows, columns], accumulate: true);
        var counts = difference.cumsum(1).cumsum(2);
        return counts.narrow(1, 0, size.Height).narrow(2, 0, size.Width).gt(Scalars.Zero).to(ScalarType.Float32);
    }

    private static Tensor ToIndex(Tensor cells, long min, long max)
    {
        using var low = min.ToScalar();
        using var high = max.ToScalar();
        return cells.clamp(low, high).to(ScalarType.Int64);
    }
}
