using TorchSharp;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Ops;

/// <summary>
/// Greedy non-maximum suppression, computed from the IoU matrix without a loop over boxes: after sorting by score,
/// box i survives iff no surviving higher-scored box overlaps it by more than the threshold. That rule is applied as a
/// fixed-point iteration over the whole keep vector; iteration t fixes at least the first t boxes, and it usually
/// converges in a handful of steps, giving exactly the greedy result.
/// </summary>
public static class Nms
{
    /// <summary>
    /// Indices [K] int64 of the kept boxes [N, 4] (xyxy), ordered by descending score [N];
    /// a box is dropped when its IoU with a kept higher-scored box is &gt; <paramref name="iouThreshold"/>.
    /// </summary>
    public static Tensor Apply(Tensor boxes, Tensor scores, double iouThreshold)
    {
        using var scope = NewDisposeScope();
        if (boxes.shape[0] == 0)
        {
            return empty(0, dtype: int64, device: boxes.device).MoveToOuterDisposeScope();
        }

        var order = scores.argsort(descending: true);
        var sorted = boxes.index_select(0, order);
        // suppresses[j, i]: higher-scored box j (j < i) would suppress box i.
        var suppresses = BoxOps.Iou(sorted, sorted).gt(iouThreshold).triu(1);
        var keep = ones(order.shape[0], dtype: @bool, device: boxes.device);
        while (true)
        {
            var next = (suppresses & keep.unsqueeze(1)).any(0).logical_not();
            if (next.eq(keep).all().item<bool>())
            {
                break;
            }

            keep = next;
        }

        return order.masked_select(keep).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// NMS done independently within each group (class or level) [N] int64, in one call: boxes of different groups
    /// are shifted apart by group × (max coordinate + 1) so they can never overlap. Returns kept indices [K] int64,
    /// by descending score.
    /// </summary>
    public static Tensor Batched(Tensor boxes, Tensor scores, Tensor groups, double iouThreshold)
    {
        using var scope = NewDisposeScope();
        if (boxes.shape[0] == 0)
        {
            return empty(0, dtype: int64, device: boxes.device).MoveToOuterDisposeScope();
        }

        var offsets = groups.to(boxes.dtype) * (boxes.max() + 1);
        return Apply(boxes + offsets.unsqueeze(1), scores, iouThreshold).MoveToOuterDisposeScope();
    }
}
