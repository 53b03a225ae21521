using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Masks;

/// <summary>
/// The FGFI anchor-IoU mask (Wang et al., CVPR 2019, "Distilling Object Detectors with Fine-grained Feature
/// Imitation"). Anchors are laid out as in mmdetection v2 (see <see cref="AnchorIouMaskOptions"/>: centred on
/// ((j + o)·s, (i + o)·s), o = <see cref="AnchorIouMaskOptions.CenterOffset"/>, default 0). For each GT box,
/// m = its largest IoU over all anchors of all levels; a cell of a level is 1
/// where at least one of its anchors has IoU &gt; φ·m with at least one GT box of that image
/// (φ = <see cref="AnchorIouMaskOptions.IouFactor"/>), else 0. A GT box overlapping no anchor, or of zero area (m = 0), marks nothing.
/// IoU uses areas (x2−x1)(y2−y1) without mmdetection v1's +1. Unlike the DeFeat rule a box can mark several levels.
/// Cost: O(N·H·W·K) time and memory per level (K anchors per cell), the IoU matrix computed twice per level (once
/// for the maxima, once for the masks) so that only one level's matrix is alive at a time.
/// </summary>
public sealed class AnchorIouMaskBuilder : ObjectMaskBuilder
{
    private readonly double[] anchorWidths;
    private readonly double[] anchorHeights;

    /// <summary>Creates the builder.</summary>
    /// <param name="options">Anchor layout and φ; null means <see cref="AnchorIouMaskOptions.FasterRcnn"/>.</param>
    public AnchorIouMaskBuilder(AnchorIouMaskOptions? options = null)
    {
        Options = options ?? AnchorIouMaskOptions.FasterRcnn;
        var shapes = Options.Ratios.SelectMany(ratio => Options.Scales.Select(scale => (
            Width: scale / Math.Sqrt(ratio),
            Height: scale * Math.Sqrt(ratio)))).ToArray();
        anchorWidths = shapes.Select(shape => shape.Width).ToArray();
        anchorHeights = shapes.Select(shape => shape.Height).ToArray();
    }

    /// <summary>The anchor layout and threshold in use.</summary>
    public AnchorIouMaskOptions Options { get; }

    /// <inheritdoc />
    protected override Tensor[] BuildLevelMasks(GroundTruthBatch groundTruth, IReadOnlyList<MaskLevel> levels)
    {
        var boxes = groundTruth.Boxes;
        var bestIou = zeros([boxes.shape[0]], ScalarType.Float64, groundTruth.Device);
        foreach (var level in levels)
        {
            using var levelScope = NewDisposeScope();
            bestIou = bestIou.maximum(AnchorIou(boxes, level).amax([1, 2, 3])).MoveToOuterDisposeScope();
        }

        using var iouFactor = Options.IouFactor.ToScalar();
        var threshold = (bestIou * iouFactor).view(-1, 1, 1, 1);
        var masks = new Tensor[levels.Count];
        for (var index = 0; index < levels.Count; index++)
        {
            using var levelScope = NewDisposeScope();
            var size = levels[index].Size;
            var boxCells = AnchorIou(boxes, levels[index]).gt(threshold).any(3).to(ScalarType.Float32);
            var hits = zeros([groundTruth.ImageCount, size.Height, size.Width], ScalarType.Float32, groundTruth.Device)
                .index_add_(0, groundTruth.ImageIndex, boxCells, Scalars.One);
            masks[index] = hits.gt(Scalars.Zero).to(ScalarType.Float32).MoveToOuterDisposeScope();
        }

        return masks;
    }

    /// <summary>
    /// IoU of every GT box with every anchor of one level: [N, H, W, K] float64 (in float32 the area of a huge box
    /// overflows and a tiny but decisive IoU underflows to 0). The intersection is separable ([N, H, K] rows ×
    /// [N, W, K] columns), so only the final products are of full size.
    /// </summary>
    private Tensor AnchorIou(Tensor boxes, MaskLevel level)
    {
        var device = boxes.device;
        using var halfStride = (level.Stride / 2).ToScalar();
        var halfWidths = tensor(anchorWidths, device: device) * halfStride;
        var halfHeights = tensor(anchorHeights, device: device) * halfStride;
        var overlapX = AxisOverlap(boxes.select(1, 0), boxes.select(1, 2), level.Size.Width, level.Stride, Options.CenterOffset, halfWidths);
        var overlapY = AxisOverlap(boxes.select(1, 1), boxes.select(1, 3), level.Size.Height, level.Stride, Options.CenterOffset, halfHeights);
        var intersection = overlapY.unsqueeze(2) * overlapX.unsqueeze(1);
        var boxAreas = ((boxes.select(1, 2) - boxes.select(1, 0)) * (boxes.select(1, 3) - boxes.select(1, 1))).view(-1, 1, 1, 1);
        var anchorAreas = halfWidths * halfHeights * Scalars.Four;
        return intersection / (boxAreas.add(anchorAreas, Scalars.One) - intersection);
    }

    /// <summary>
    /// Overlap length along one axis of each box [low, high] (pixels, [N] float64) with the anchors centred on
    /// (cell + centreOffset)·stride with the given half sizes ([K] float64): [N, cells, K] float64, ≥ 0.
    /// </summary>
    private static Tensor AxisOverlap(Tensor low, Tensor high, int cellCount, double stride, double centreOffset, Tensor halfSizes)
    {
        using var count = cellCount.ToScalar();
        using var offset = centreOffset.ToScalar();
        using var strideScalar = stride.ToScalar();
        var centres = (arange(Scalars.Zero, count, Scalars.One, ScalarType.Float64, low.device).add(offset, Scalars.One) * strideScalar).unsqueeze(1);
        var anchorLow = (centres - halfSizes).unsqueeze(0);
        var anchorHigh = centres.add(halfSizes, Scalars.One).unsqueeze(0);
        var overlap = minimum(high.view(-1, 1, 1), anchorHigh) - maximum(low.view(-1, 1, 1), anchorLow);
        return overlap.clamp_min(Scalars.Zero);
    }
}
