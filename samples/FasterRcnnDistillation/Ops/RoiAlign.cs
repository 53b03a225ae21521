using TorchSharp;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Ops;

/// <summary>
/// RoIAlign (aligned variant: pixel centres at +0.5) written with <c>grid_sample</c>. The images of a batch are laid
/// side by side into one [1, C, H, B·W] map and every RoI samples only inside its own image (coordinates are clamped
/// to the image's cells), so a single <c>grid_sample</c> call serves all RoIs of a level.
/// </summary>
public static class RoiAlign
{
    /// <summary>The canonical RoI scale of the FPN level rule: k = floor(log2(√(wh) / 56)), i.e. 224 ↔ P4.</summary>
    public const double FinestScale = 56.0;

    /// <summary>
    /// Pools features [B, C, H, W] over rois [R, 5] (batch index, x1, y1, x2, y2 in image pixels) into
    /// [R, C, outputSize, outputSize]. Each output bin averages samplingRatio × samplingRatio bilinear samples
    /// taken at the bin's sub-cell centres; sample coordinates are clamped to [0, W − 1] × [0, H − 1].
    /// </summary>
    public static Tensor Pool(Tensor features, Tensor rois, int outputSize, double spatialScale, int samplingRatio)
    {
        using var scope = NewDisposeScope();
        long batch = features.shape[0], channels = features.shape[1], height = features.shape[2], width = features.shape[3];
        long count = rois.shape[0];
        int points = outputSize * samplingRatio;
        if (count == 0)
        {
            return zeros(new[] { 0L, channels, outputSize, outputSize }, dtype: features.dtype, device: features.device)
                .MoveToOuterDisposeScope();
        }

        var steps = (arange(points, dtype: features.dtype, device: features.device) + 0.5) / points; // [P]
        var scaled = rois[.., 1..] * spatialScale - 0.5;
        var x = (scaled[.., 0].unsqueeze(1) + steps.unsqueeze(0) * (scaled[.., 2] - scaled[.., 0]).unsqueeze(1))
            .clamp(0, width - 1); // [R, P]
        var y = (scaled[.., 1].unsqueeze(1) + steps.unsqueeze(0) * (scaled[.., 3] - scaled[.., 1]).unsqueeze(1))
            .clamp(0, height - 1); // [R, P]
        var xGlobal = x + rois[.., 0].unsqueeze(1) * width;
        var xNorm = xGlobal / Math.Max(batch * width - 1, 1) * 2 - 1;
        var yNorm = y / Math.Max(height - 1, 1) * 2 - 1;
        var grid = stack(new[]
        {
            xNorm.unsqueeze(1).expand(count, points, points),
            yNorm.unsqueeze(2).expand(count, points, points),
        }, 3).reshape(1, count * points, points, 2);
        var sideBySide = features.permute(1, 2, 0, 3).reshape(1, channels, height, batch * width);
        var sampled = nn.functional.grid_sample(sideBySide, grid, align_corners: true) // [1, C, R·P, P]
            .view(channels, count, points, points).permute(1, 0, 2, 3);
        return nn.functional.avg_pool2d(sampled, samplingRatio).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The FPN level index (0 = finest given level) of each roi [R, 5] by the standard rule
    /// clamp(floor(log2(√(wh) / 56 + 1e-6)), 0, levels − 1) → [R] int64.
    /// </summary>
    public static Tensor MapLevels(Tensor rois, int levels)
    {
        using var scope = NewDisposeScope();
        var scale = ((rois[.., 3] - rois[.., 1]) * (rois[.., 4] - rois[.., 2])).clamp_min(1e-6).sqrt();
        return floor(log2(scale / FinestScale + 1e-6)).clamp(0, levels - 1).to(int64).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Pools every roi [R, 5] from its own level (<see cref="MapLevels"/>) of the given feature maps
    /// (each [B, C, H_l, W_l], stride strides[l]) → [R, C, outputSize, outputSize].
    /// </summary>
    public static Tensor PoolMultiLevel(
        IReadOnlyList<Tensor> features, IReadOnlyList<int> strides, Tensor rois, int outputSize, int samplingRatio)
    {
        using var scope = NewDisposeScope();
        var levels = MapLevels(rois, features.Count);
        var output = zeros(new[] { rois.shape[0], features[0].shape[1], outputSize, outputSize },
            dtype: features[0].dtype, device: features[0].device);
        for (int level = 0; level < features.Count; level++)
        {
            var index = levels.eq(level).nonzero().squeeze(1);
            if (index.shape[0] == 0)
            {
                continue;
            }

            var pooled = Pool(features[level], rois.index_select(0, index), outputSize, 1.0 / strides[level], samplingRatio);
            output = output.index_copy(0, index, pooled);
        }

        return output.MoveToOuterDisposeScope();
    }
}
