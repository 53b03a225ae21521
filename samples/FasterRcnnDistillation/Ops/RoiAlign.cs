using TorchSharp;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Ops;

/// <summary>
/// RoIAlign (aligned variant: pixel centres at +0.5) as two matrix products. Bilinear interpolation is separable and
/// so is the average over a bin's samplingRatio × samplingRatio grid, so each RoI's pooling is
/// Wy · F · Wxᵀ with per-axis weight matrices Wy [S, H] and Wx [S, W] (each row the mean of the hat functions
/// max(0, 1 − |x − i|) of the bin's samples): exactly bilinear sampling with coordinates clamped to the map, averaged.
/// Matrix products are much faster than <c>grid_sample</c> on the CPU, forward and backward.
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
        if (rois.shape[0] == 0)
        {
            return zeros(new[] { 0L, channels, outputSize, outputSize }, dtype: features.dtype, device: features.device)
                .MoveToOuterDisposeScope();
        }

        var boxes = rois.to(features.dtype);
        var rowWeights = AxisWeights(boxes[.., 2], boxes[.., 4], height, outputSize, spatialScale, samplingRatio); // [R, S, H]
        var columnWeights = AxisWeights(boxes[.., 1], boxes[.., 3], width, outputSize, spatialScale, samplingRatio); // [R, S, W]
        var images = rois[.., 0].to(int64).cpu().data<long>().ToArray();
        long outside = images.Count(b => b < 0 || b >= batch);
        if (outside > 0)
        {
            throw new ArgumentException(
                $"rois: {outside} of {rois.shape[0]} rows have a batch index outside [0, {batch}) of features [{batch}, ...].",
                nameof(rois));
        }

        // Rows of one image are pooled together; rois grouped by image (as the samplers emit them) are taken as slices,
        // otherwise they are put in image order first and back afterwards.
        Tensor? order = null;
        if (Runs(images).Count > batch)
        {
            order = tensor(images).sort(stable: true).Indices.to(rois.device);
            images = images.Order().ToArray();
            rowWeights = rowWeights.index_select(0, order);
            columnWeights = columnWeights.index_select(0, order);
        }

        var pieces = new List<Tensor>();
        foreach (var (b, start, count) in Runs(images))
        {
            // [n·S, H] × [H, C·W] → [n, S·C, W]; then per roi [S·C, W] × [W, S] → [n, S, C, S].
            var rows = rowWeights.narrow(0, start, count).reshape(-1, height)
                .mm(features[b].permute(1, 0, 2).reshape(height, channels * width))
                .view(count, outputSize * channels, width);
            pieces.Add(rows.bmm(columnWeights.narrow(0, start, count).transpose(1, 2)));
        }

        var pooled = pieces.Count == 1 ? pieces[0] : cat(pieces);
        if (order is not null)
        {
            pooled = pooled.index_select(0, order.argsort());
        }

        return pooled
            .view(-1, outputSize, channels, outputSize)
            .permute(0, 2, 1, 3)
            .MoveToOuterDisposeScope();
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
        var indices = new List<Tensor>();
        var pieces = new List<Tensor>();
        for (int level = 0; level < features.Count; level++)
        {
            var index = levels.eq(level).nonzero().squeeze(1);
            if (index.shape[0] == 0)
            {
                continue;
            }

            indices.Add(index);
            pieces.Add(Pool(features[level], rois.index_select(0, index), outputSize, 1.0 / strides[level], samplingRatio));
        }

        return pieces.Count == 0
            ? zeros(new[] { 0L, features[0].shape[1], outputSize, outputSize }, dtype: features[0].dtype, device: features[0].device)
                .MoveToOuterDisposeScope()
            : Reorder(cat(pieces), indices).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Puts rows computed group by group back into roi order: <paramref name="grouped"/> [R, ...] holds, one group after
    /// the other, the rows of the rois listed in <paramref name="indices"/> (together a permutation of 0..R − 1).
    /// </summary>
    private static Tensor Reorder(Tensor grouped, List<Tensor> indices)
        => indices.Count == 1 ? grouped : grouped.index_select(0, cat(indices).argsort());

    /// <summary>Maximal runs of equal batch index: (batch index, first row, row count).</summary>
    private static List<(long Image, long Start, long Count)> Runs(long[] images)
    {
        var runs = new List<(long, long, long)>();
        int start = 0;
        for (int i = 1; i <= images.Length; i++)
        {
            if (i == images.Length || images[i] != images[start])
            {
                runs.Add((images[start], start, i - start));
                start = i;
            }
        }

        return runs;
    }

    /// <summary>
    /// Interpolation weights along one axis for rois spanning [start, end] image pixels [R] on a map axis of
    /// <paramref name="size"/> cells → [R, outputSize, size]: row s is the mean, over the bin's samplingRatio samples
    /// (coordinates clamped to [0, size − 1]), of the bilinear hat weights max(0, 1 − |x − i|).
    /// </summary>
    private static Tensor AxisWeights(Tensor start, Tensor end, long size, int outputSize, double spatialScale, int samplingRatio)
    {
        int points = outputSize * samplingRatio;
        var steps = (arange(points, dtype: start.dtype, device: start.device) + 0.5) / points; // [P]
        var first = start * spatialScale - 0.5;
        var length = (end - start) * spatialScale;
        var samples = (first.unsqueeze(1) + steps.unsqueeze(0) * length.unsqueeze(1)).clamp(0, size - 1); // [R, P]
        var cells = arange(size, dtype: start.dtype, device: start.device);
        var hats = (1 - (samples.unsqueeze(2) - cells).abs()).clamp_min(0); // [R, P, size]
        return hats.view(-1, outputSize, samplingRatio, size).mean(new long[] { 2 });
    }
}
