using TorchSharp;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Ops;

/// <summary>
/// Greedy non-maximum suppression: visiting boxes by descending score, a box is kept unless a kept box of its group
/// overlaps it by IoU &gt; the threshold. The scan runs on the host over the boxes read once from the tensor: it
/// compares a box only with the kept boxes of its own group and can stop as soon as the wanted number is kept, so
/// ≈ 1,600 proposals take about a millisecond (an N × N IoU matrix and a fixed point over it took half of a teacher
/// training step). IoU is computed in float32 with the operations, in the order, of <see cref="BoxOps.Iou"/>, so the
/// decisions are those of the tensor formula.
/// </summary>
public static class Nms
{
    /// <summary>
    /// Indices [K] int64 of the kept boxes [N, 4] (xyxy), ordered by descending score [N] (ties: lower index first);
    /// a box is dropped when its IoU with a kept higher-scored box is &gt; <paramref name="iouThreshold"/>.
    /// </summary>
    public static Tensor Apply(Tensor boxes, Tensor scores, double iouThreshold)
        => Run(boxes, scores, groups: null, iouThreshold);

    /// <summary>
    /// NMS done independently within each group (class or level) [N] int64, in one call: a box is only ever suppressed
    /// by a box of its own group. Returns kept indices [K] int64, by descending score (ties: lower index first).
    /// </summary>
    public static Tensor Batched(Tensor boxes, Tensor scores, Tensor groups, double iouThreshold)
        => Run(boxes, scores, groups, iouThreshold);

    /// <summary>
    /// The greedy scan on host data: <paramref name="boxes"/> holds N boxes (x1, y1, x2, y2; 4N floats), visited in
    /// <paramref name="order"/> (positions into the boxes); a box is kept unless a kept box with the same
    /// <paramref name="groups"/> entry (all one group when null) overlaps it by IoU &gt; <paramref name="iouThreshold"/>.
    /// Returns the first <paramref name="limit"/> kept positions in visiting order: the prefix of the full result,
    /// since a box's fate depends only on the boxes visited before it.
    /// </summary>
    public static List<int> Greedy(ReadOnlySpan<float> boxes, ReadOnlySpan<long> order, ReadOnlySpan<long> groups, double iouThreshold, int limit)
    {
        float threshold = (float)iouThreshold;
        var kept = new List<int>();
        var keptByGroup = new Dictionary<long, List<int>>();
        foreach (long position in order)
        {
            if (kept.Count >= limit)
            {
                break;
            }

            int i = (int)position;
            var same = KeptOf(keptByGroup, groups.IsEmpty ? 0 : groups[i]);
            bool suppressed = false;
            foreach (int k in same)
            {
                if (Iou(boxes, k, i) > threshold)
                {
                    suppressed = true;
                    break;
                }
            }

            if (!suppressed)
            {
                same.Add(i);
                kept.Add(i);
            }
        }

        return kept;
    }

    private static Tensor Run(Tensor boxes, Tensor scores, Tensor? groups, double iouThreshold)
    {
        using var scope = NewDisposeScope();
        long count = boxes.shape[0];
        if (count == 0)
        {
            return empty(0, dtype: int64, device: boxes.device).MoveToOuterDisposeScope();
        }

        var order = scores.sort(descending: true, stable: true).Indices.cpu().data<long>().ToArray();
        var hostBoxes = boxes.to(float32).cpu().contiguous().data<float>().ToArray();
        var hostGroups = groups is null ? Array.Empty<long>() : groups.to(int64).cpu().data<long>().ToArray();
        var kept = Greedy(hostBoxes, order, hostGroups, iouThreshold, int.MaxValue);
        return tensor(kept.Select(k => (long)k).ToArray(), dtype: int64).to(boxes.device).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// IoU of boxes a and b (positions into 4-float rows), as <see cref="BoxOps.Iou"/> computes it in float32:
    /// clamped intersection, union = area(a) + area(b) − intersection, divided by max(union, 1e-9).
    /// </summary>
    private static float Iou(ReadOnlySpan<float> boxes, int a, int b)
    {
        var p = boxes.Slice(a * 4, 4);
        var q = boxes.Slice(b * 4, 4);
        float width = Math.Max(Math.Min(p[2], q[2]) - Math.Max(p[0], q[0]), 0f);
        float height = Math.Max(Math.Min(p[3], q[3]) - Math.Max(p[1], q[1]), 0f);
        float intersection = width * height;
        float areaP = Math.Max(p[2] - p[0], 0f) * Math.Max(p[3] - p[1], 0f);
        float areaQ = Math.Max(q[2] - q[0], 0f) * Math.Max(q[3] - q[1], 0f);
        float union = areaP + areaQ - intersection;
        return intersection / Math.Max(union, 1e-9f);
    }

    private static List<int> KeptOf(Dictionary<long, List<int>> lists, long key)
    {
        if (!lists.TryGetValue(key, out var list))
        {
            list = new List<int>();
            lists[key] = list;
        }

        return list;
    }
}
