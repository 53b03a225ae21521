using TorchSharp;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Model;

/// <summary>IoU assignment and random positive/negative sampling shared by the RPN and the RoI head.</summary>
public static class Sampling
{
    /// <summary>
    /// Assigns each of N candidates to a GT from iou [N, G]: positive (1) when its best IoU ≥ positiveIou, negative (0)
    /// when &lt; negativeIou, ignored (−1) in between. With <paramref name="lowQualityMatches"/>, every GT's best
    /// candidates (IoU equal to that GT's maximum and ≥ minPositiveIou) are made positive for it.
    /// Returns the assigned GT index [N] int64 (0 where none) and the labels [N] int64.
    /// </summary>
    public static (Tensor AssignedGt, Tensor Labels) Assign(
        Tensor iou, double positiveIou, double negativeIou, double minPositiveIou, bool lowQualityMatches)
    {
        using var scope = NewDisposeScope();
        long n = iou.shape[0];
        var labels = full(n, -1L, dtype: int64, device: iou.device);
        if (iou.shape[1] == 0)
        {
            return (zeros(n, dtype: int64, device: iou.device).MoveToOuterDisposeScope(), labels.fill_(0).MoveToOuterDisposeScope());
        }

        var (best, assigned) = iou.max(1);
        labels = labels.masked_fill(best.lt(negativeIou), 0L).masked_fill(best.ge(positiveIou), 1L);
        if (lowQualityMatches)
        {
            var gtBest = iou.max(0).values;
            var isBest = iou.eq(gtBest.unsqueeze(0)) & gtBest.ge(minPositiveIou).unsqueeze(0);
            var anyBest = isBest.any(1);
            assigned = where(anyBest, isBest.to(int64).argmax(1), assigned);
            labels = labels.masked_fill(anyBest, 1L);
        }

        return (assigned.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Randomly picks up to <c>total × positiveFraction</c> positives (label 1) and fills the rest of
    /// <paramref name="total"/> with negatives (label 0). Returns index tensors [P] and [Q] int64.
    /// </summary>
    public static (Tensor Positive, Tensor Negative) Sample(Tensor labels, int total, double positiveFraction)
    {
        using var scope = NewDisposeScope();
        var positive = Shuffle(labels.eq(1).nonzero().squeeze(1));
        positive = positive[..(int)Math.Min(positive.shape[0], (long)(total * positiveFraction))];
        var negative = Shuffle(labels.eq(0).nonzero().squeeze(1));
        negative = negative[..(int)Math.Min(negative.shape[0], total - positive.shape[0])];
        return (positive.MoveToOuterDisposeScope(), negative.MoveToOuterDisposeScope());
    }

    private static Tensor Shuffle(Tensor indices)
        => indices.index_select(0, randperm(indices.shape[0], dtype: int64).to(indices.device));
}
