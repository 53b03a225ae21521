using DeFeat.Losses.Masks;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Benchmarks.Official;

/// <summary>
/// The official DeFeat GT-mask algorithm (DeFeat.pytorch <c>anchor_head.py</c>, <c>_map_roi_levels</c> and
/// <c>get_gt_mask</c>), ported step by step as the baseline: a host loop over images, levels and boxes; per level a
/// boolean row selection of that level's boxes; each box's four coordinates read back to the host (Python
/// <c>int(t)</c>); one slice assignment per box on a float64 map; the per-image maps stacked per level.
/// </summary>
internal static class OfficialMaskBuilder
{
    private const double FinestScale = 56.0;

    /// <summary>Returns one [B, H_l, W_l] float64 mask per level on the boxes' device.</summary>
    public static Tensor[] Build(IReadOnlyList<Tensor> gtBoxes, IReadOnlyList<FeatureMapSize> featureSizes, IReadOnlyList<double> strides)
    {
        using var noGrad = torch.no_grad();
        var perImage = new List<Tensor[]>();
        foreach (var boxes in gtBoxes)
        {
            var targetLevels = MapRoiLevels(boxes, featureSizes.Count);
            var levels = new Tensor[featureSizes.Count];
            for (var level = 0; level < featureSizes.Count; level++)
            {
                var levelBoxes = boxes[targetLevels.eq(level)];
                var (h, w) = (featureSizes[level].Height, featureSizes[level].Width);
                var mask = zeros([h, w], ScalarType.Float64, boxes.device);
                for (var box = 0; box < levelBoxes.shape[0]; box++)
                {
                    var onMap = levelBoxes[box] / strides[level];
                    var lx = Math.Max((int)onMap[0].ToSingle(), 0);
                    var rx = Math.Min((int)onMap[2].ToSingle(), w);
                    var ly = Math.Max((int)onMap[1].ToSingle(), 0);
                    var ry = Math.Min((int)onMap[3].ToSingle(), h);
                    if (lx == rx || ly == ry)
                    {
                        mask[ly, lx] += 1;
                    }
                    else
                    {
                        // Python's `mask[ly:ry, lx:rx] += 1`: read the slice, add in place, assign it back.
                        var rows = TensorIndex.Slice(ly, ry);
                        var columns = TensorIndex.Slice(lx, rx);
                        var region = mask[rows, columns];
                        region.add_(1);
                        mask[rows, columns] = region;
                    }
                }

                levels[level] = mask.gt(0).to_type(ScalarType.Float64);
            }

            perImage.Add(levels);
        }

        return [.. Enumerable.Range(0, featureSizes.Count).Select(level => stack(perImage.Select(maps => maps[level]), 0))];
    }

    /// <summary>clamp(floor(log2(sqrt((w+1)(h+1)) / 56 + 1e-6)), 0, L−1) per box, int64 [N].</summary>
    private static Tensor MapRoiLevels(Tensor boxes, int levelCount)
    {
        var scale = sqrt((boxes[.., 2] - boxes[.., 0] + 1) * (boxes[.., 3] - boxes[.., 1] + 1));
        var levels = floor(log2((scale / FinestScale) + 1e-6));
        return levels.clamp(0, levelCount - 1).to_type(ScalarType.Int64);
    }
}
