using TorchSharp;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Ops;

/// <summary>
/// Box arithmetic on xyxy boxes in pixels (x1, y1, x2, y2; width = x2 − x1, no "+1"), all vectorised.
/// </summary>
public static class BoxOps
{
    /// <summary>Largest |dw|, |dh| accepted when decoding: log(1000 / 16), as in mmdetection.</summary>
    public static readonly double MaxLogRatio = Math.Abs(Math.Log(16.0 / 1000.0));

    /// <summary>Areas of boxes [N, 4] → [N].</summary>
    public static Tensor Area(Tensor boxes)
        => (boxes[.., 2] - boxes[.., 0]).clamp_min(0) * (boxes[.., 3] - boxes[.., 1]).clamp_min(0);

    /// <summary>Pairwise IoU of boxes a [N, 4] and b [M, 4] → [N, M]; 0 where the union is empty.</summary>
    public static Tensor Iou(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        var topLeft = maximum(a[.., TensorIndex.None, ..2], b[TensorIndex.None, .., ..2]);
        var bottomRight = minimum(a[.., TensorIndex.None, 2..], b[TensorIndex.None, .., 2..]);
        var size = (bottomRight - topLeft).clamp_min(0);
        var intersection = size[.., .., 0] * size[.., .., 1];
        var union = Area(a)[.., TensorIndex.None] + Area(b)[TensorIndex.None, ..] - intersection;
        return (intersection / union.clamp_min(1e-9)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Encodes targets [N, 4] relative to reference boxes [N, 4] as deltas (dx, dy, dw, dh) / stds → [N, 4]
    /// (mmdetection's DeltaXYWHBBoxCoder with zero means).
    /// </summary>
    public static Tensor Encode(Tensor reference, Tensor targets, double[] stds)
    {
        using var scope = NewDisposeScope();
        var (px, py, pw, ph) = CentreSize(reference);
        var (gx, gy, gw, gh) = CentreSize(targets);
        var deltas = stack(new[] { (gx - px) / pw, (gy - py) / ph, log(gw / pw), log(gh / ph) }, 1);
        return (deltas / StdTensor(stds, deltas)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Decodes deltas [N, 4] (scaled by stds) against reference boxes [N, 4] → boxes [N, 4], clipped to an image of
    /// <paramref name="height"/> × <paramref name="width"/> pixels.
    /// </summary>
    public static Tensor Decode(Tensor reference, Tensor deltas, double[] stds, long height, long width)
    {
        using var scope = NewDisposeScope();
        var d = deltas * StdTensor(stds, deltas);
        var (px, py, pw, ph) = CentreSize(reference);
        var dw = d[.., 2].clamp(-MaxLogRatio, MaxLogRatio);
        var dh = d[.., 3].clamp(-MaxLogRatio, MaxLogRatio);
        var cx = px + d[.., 0] * pw;
        var cy = py + d[.., 1] * ph;
        var w = pw * exp(dw);
        var h = ph * exp(dh);
        var boxes = stack(new[] { cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h }, 1);
        return Clip(boxes, height, width).MoveToOuterDisposeScope();
    }

    /// <summary>Clips boxes [N, 4] to [0, width] × [0, height].</summary>
    public static Tensor Clip(Tensor boxes, long height, long width)
    {
        using var scope = NewDisposeScope();
        var x = boxes[.., TensorIndex.Slice(0, 4, 2)].clamp(0, width);
        var y = boxes[.., TensorIndex.Slice(1, 4, 2)].clamp(0, height);
        return stack(new[] { x[.., 0], y[.., 0], x[.., 1], y[.., 1] }, 1).MoveToOuterDisposeScope();
    }

    private static (Tensor X, Tensor Y, Tensor W, Tensor H) CentreSize(Tensor boxes)
    {
        var w = boxes[.., 2] - boxes[.., 0];
        var h = boxes[.., 3] - boxes[.., 1];
        return (boxes[.., 0] + 0.5 * w, boxes[.., 1] + 0.5 * h, w, h);
    }

    private static Tensor StdTensor(double[] stds, Tensor like)
        => tensor(stds.Select(s => (float)s).ToArray(), dtype: like.dtype, device: like.device);
}
