using FasterRcnnDistillation.Evaluation;
using FasterRcnnDistillation.Ops;
using FasterRcnnDistillation.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Model;

/// <summary>
/// The second stage: RoIAlign (7×7, 2×2 samples per bin) on the level P2..P5 chosen by the 224 rule, then
/// <see cref="BoxHead"/>. forward(P2..P6, rois [R, 5], labels [R] int64) → logits [R, K + 1], deltas [R, 4K], and
/// the rois and labels it classified, echoed back. The labels (class in [0, K], K = background, −1 = unknown at test
/// time) are not used by the forward itself: they travel with the rois so that whoever substitutes the rois before
/// the forward (a forward pre-hook, e.g. a distiller delivering a teacher's sampled proposals) substitutes the
/// matching labels too, and the loss is computed on what the head actually saw.
/// </summary>
public sealed class RoiHead : nn.Module<Tensor[], Tensor, Tensor, (Tensor Logits, Tensor Deltas, Tensor Rois, Tensor Labels)>
{
    /// <summary>Target stds of the class-specific box deltas.</summary>
    public static readonly double[] DeltaStds = { 0.1, 0.1, 0.2, 0.2 };

    private readonly BoxHead box_head;
    private readonly DetectorConfig config;

    public RoiHead(string name, long channels, DetectorConfig config)
        : base(name)
    {
        this.config = config;
        box_head = new BoxHead("box_head", channels * config.RoiOutputSize * config.RoiOutputSize, config.HeadHidden, config.Classes);
        RegisterComponents();
    }

    public override (Tensor Logits, Tensor Deltas, Tensor Rois, Tensor Labels) forward(Tensor[] features, Tensor rois, Tensor labels)
    {
        Tensor pooled, logits, deltas;
        using (StepProfile.Measure("RoIAlign"))
        {
            pooled = RoiAlign.PoolMultiLevel(
                features[..4], DetectorConfig.Strides[..4], rois, config.RoiOutputSize, config.RoiSamplingRatio);
        }

        using (StepProfile.Measure("box head"))
        {
            (logits, deltas) = box_head.call(pooled);
        }

        return (logits, deltas, rois, labels);
    }

    /// <summary>
    /// Samples <see cref="DetectorConfig.RoiSamples"/> RoIs per image (≤ 25 % positive) from the proposals plus the GT boxes: IoU ≥ 0.5 with a GT is
    /// positive with that GT's class, otherwise background (label K).
    /// </summary>
    public RoiTargets Sample(IReadOnlyList<Tensor> proposals, IReadOnlyList<Tensor> gtBoxes, IReadOnlyList<Tensor> gtLabels)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var rois = new List<Tensor>();
        var labels = new List<Tensor>();
        for (int i = 0; i < proposals.Count; i++)
        {
            var candidates = cat(new[] { proposals[i], gtBoxes[i] });
            var (assigned, assignedLabels) = Sampling.Assign(BoxOps.Iou(candidates, gtBoxes[i]), 0.5, 0.5, 0.5, lowQualityMatches: false);
            var (positive, negative) = Sampling.Sample(assignedLabels, config.RoiSamples, config.RoiPositiveFraction);
            var chosen = cat(new[] { positive, negative });
            var boxes = candidates.index_select(0, chosen);
            rois.Add(cat(new[] { full(chosen.shape[0], 1, (double)i, dtype: boxes.dtype, device: boxes.device), boxes }, 1));
            var positiveGt = assigned.index_select(0, positive);
            labels.Add(cat(new[]
            {
                gtLabels[i].index_select(0, positiveGt),
                full(negative.shape[0], (long)config.Classes, dtype: int64, device: boxes.device),
            }));
        }

        return new RoiTargets(cat(rois).MoveToOuterDisposeScope(), cat(labels).MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Cross-entropy over the classified RoIs and L1 on the positives' class-specific deltas, both / R. The regression
    /// target of a positive roi [R, 5] is its best-IoU GT box of its own image, encoded with stds 0.1, 0.1, 0.2, 0.2.
    /// </summary>
    public (Tensor Classification, Tensor Regression) Loss(
        Tensor logits, Tensor deltas, Tensor rois, Tensor labels, IReadOnlyList<Tensor> gtBoxes)
    {
        using var scope = NewDisposeScope();
        long count = Math.Max(logits.shape[0], 1);
        var classification = nn.functional.cross_entropy(logits, labels);
        var positive = labels.lt(config.Classes).nonzero().squeeze(1);
        var chosen = deltas.view(deltas.shape[0], config.Classes, 4)
            .index_select(0, positive)
            .gather(1, labels.index_select(0, positive).view(-1, 1, 1).expand(-1, 1, 4))
            .squeeze(1);
        var regression = (chosen - RegressionTargets(rois.index_select(0, positive), gtBoxes)).abs().sum() / count;
        return (classification.MoveToOuterDisposeScope(), regression.MoveToOuterDisposeScope());
    }

    private static Tensor RegressionTargets(Tensor positiveRois, IReadOnlyList<Tensor> gtBoxes)
    {
        using var noGrad = no_grad();
        var targets = zeros(positiveRois.shape[0], 4, dtype: positiveRois.dtype, device: positiveRois.device);
        var image = positiveRois[.., 0].to(int64);
        for (int i = 0; i < gtBoxes.Count; i++)
        {
            var mine = image.eq(i).nonzero().squeeze(1);
            if (mine.shape[0] == 0 || gtBoxes[i].shape[0] == 0)
            {
                continue;
            }

            var boxes = positiveRois.index_select(0, mine)[.., 1..];
            var best = BoxOps.Iou(boxes, gtBoxes[i]).argmax(1);
            targets = targets.index_copy(0, mine, BoxOps.Encode(boxes, gtBoxes[i].index_select(0, best), DeltaStds));
        }

        return targets;
    }

    /// <summary>
    /// Final detections of one image from its proposals [P, 4]: softmax scores, class-specific decoding, score
    /// threshold, per-class NMS, best <see cref="DetectorConfig.MaxDetections"/>.
    /// </summary>
    public List<Detection> Detect(Tensor[] features, Tensor proposals, int batchIndex, int imageIndex, long height, long width)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        int classes = config.Classes;
        var rois = cat(new[] { full(proposals.shape[0], 1, (double)batchIndex, dtype: proposals.dtype, device: proposals.device), proposals }, 1);
        var (logits, deltas, _, _) = call(features, rois, full(proposals.shape[0], -1L, dtype: int64, device: proposals.device));
        var scores = nn.functional.softmax(logits, 1)[.., ..classes].reshape(-1);
        var boxes = BoxOps.Decode(
            proposals.repeat_interleave(classes, 0), deltas.reshape(-1, 4), DeltaStds, height, width);
        var labels = arange(classes, dtype: int64, device: proposals.device).repeat(proposals.shape[0]);
        var keep = (scores.gt(config.ScoreThreshold)
            & ((boxes[.., 2] - boxes[.., 0]) > 1e-2) & ((boxes[.., 3] - boxes[.., 1]) > 1e-2)).nonzero().squeeze(1);
        boxes = boxes.index_select(0, keep);
        scores = scores.index_select(0, keep);
        labels = labels.index_select(0, keep);
        var kept = Nms.Batched(boxes, scores, labels, config.DetectionNmsIou);
        kept = kept[..(int)Math.Min(config.MaxDetections, kept.shape[0])];
        if (kept.shape[0] == 0)
        {
            return new List<Detection>();
        }

        var keptBoxes = boxes.index_select(0, kept).cpu().data<float>().ToArray();
        var keptScores = scores.index_select(0, kept).cpu().data<float>().ToArray();
        var keptLabels = labels.index_select(0, kept).cpu().data<long>().ToArray();
        return Enumerable.Range(0, keptScores.Length)
            .Select(k => new Detection(imageIndex, keptBoxes[(k * 4)..(k * 4 + 4)], (int)keptLabels[k], keptScores[k]))
            .ToList();
    }
}
