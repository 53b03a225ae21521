using FasterRcnnDistillation.Ops;
using FasterRcnnDistillation.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Model;

/// <summary>
/// RPN: a shared 3×3 conv + ReLU, then 1×1 objectness (A per cell) and 1×1 deltas (4A per cell) on every level.
/// forward: P2..P6 → objectness [B, H_l·W_l·A] and deltas [B, H_l·W_l·A, 4] per level (cell-major, anchor-minor).
/// </summary>
public sealed class RegionProposalNetwork : nn.Module<Tensor[], (Tensor[] Objectness, Tensor[] Deltas)>
{
    private static readonly double[] UnitStds = { 1, 1, 1, 1 };
    private readonly Conv2d conv;
    private readonly Conv2d objectness;
    private readonly Conv2d deltas;
    private readonly DetectorConfig config;

    public RegionProposalNetwork(string name, long channels, DetectorConfig config)
        : base(name)
    {
        this.config = config;
        int anchors = config.AnchorRatios.Length;
        conv = nn.Conv2d(channels, channels, 3, padding: 1);
        objectness = nn.Conv2d(channels, anchors, 1);
        deltas = nn.Conv2d(channels, anchors * 4, 1);
        foreach (var layer in new[] { conv, objectness, deltas })
        {
            nn.init.normal_(layer.weight!, 0, 0.01);
            nn.init.zeros_(layer.bias!);
        }

        RegisterComponents();
    }

    public override (Tensor[] Objectness, Tensor[] Deltas) forward(Tensor[] features)
    {
        var scores = new Tensor[features.Length];
        var offsets = new Tensor[features.Length];
        for (int l = 0; l < features.Length; l++)
        {
            var hidden = nn.functional.relu(conv.call(features[l]));
            long b = hidden.shape[0], h = hidden.shape[2], w = hidden.shape[3];
            scores[l] = objectness.call(hidden).permute(0, 2, 3, 1).reshape(b, -1);
            offsets[l] = deltas.call(hidden).view(b, -1, 4, h, w).permute(0, 3, 4, 1, 2).reshape(b, -1, 4);
        }

        return (scores, offsets);
    }

    /// <summary>Anchors of one level with H × W cells at <paramref name="stride"/>: [H·W·A, 4] xyxy pixels.</summary>
    public static Tensor Anchors(long height, long width, int stride, double scale, double[] ratios, Device device)
    {
        using var scope = NewDisposeScope();
        double size = scale * stride;
        var ratio = tensor(ratios, dtype: float32, device: device);
        var halfW = 0.5 * size / ratio.sqrt();
        var halfH = 0.5 * size * ratio.sqrt();
        var baseBoxes = stack(new[] { -halfW, -halfH, halfW, halfH }, 1); // [A, 4]
        var ys = (arange(height, dtype: float32, device: device) + 0.5) * stride;
        var xs = (arange(width, dtype: float32, device: device) + 0.5) * stride;
        var grid = meshgrid(new[] { ys, xs }, indexing: "ij");
        var centres = stack(new[] { grid[1], grid[0], grid[1], grid[0] }, 2).reshape(-1, 1, 4); // [HW, 1, 4]
        return (centres + baseBoxes.unsqueeze(0)).reshape(-1, 4).MoveToOuterDisposeScope();
    }

    /// <summary>Anchors for every level of <paramref name="features"/> (P2..P6).</summary>
    public Tensor[] AnchorsFor(IReadOnlyList<Tensor> features)
        => features.Select((f, l) => Anchors(f.shape[2], f.shape[3], DetectorConfig.Strides[l], config.AnchorScale, config.AnchorRatios, f.device)).ToArray();

    /// <summary>
    /// RPN losses: BCE on 256 sampled anchors per image (≤ 50 % positive; IoU ≥ 0.7 positive, &lt; 0.3 negative,
    /// plus each GT's best anchors) and L1 on the positives' deltas, both divided by the number of samples.
    /// </summary>
    public (Tensor Classification, Tensor Regression) Loss(
        Tensor[] anchors, Tensor[] objectness, Tensor[] deltas, IReadOnlyList<Tensor> gtBoxes)
    {
        using var scope = NewDisposeScope();
        var allAnchors = cat(anchors, 0);
        var allScores = cat(objectness, 1);
        var allDeltas = cat(deltas, 1);
        var logits = new List<Tensor>();
        var targets = new List<Tensor>();
        var regressionErrors = new List<Tensor>();
        long sampled = 0;
        for (int i = 0; i < gtBoxes.Count; i++)
        {
            var (positive, negative, regressionTarget) = AnchorTargets(allAnchors, gtBoxes[i]);
            var chosen = cat(new[] { positive, negative });
            sampled += chosen.shape[0];
            logits.Add(allScores[i].index_select(0, chosen));
            targets.Add(cat(new[] { ones(positive.shape[0], device: allAnchors.device), zeros(negative.shape[0], device: allAnchors.device) }));
            regressionErrors.Add((allDeltas[i].index_select(0, positive) - regressionTarget).abs().sum());
        }

        var denominator = Math.Max(sampled, 1);
        var classification = nn.functional.binary_cross_entropy_with_logits(cat(logits), cat(targets), reduction: nn.Reduction.Sum) / denominator;
        var regression = stack(regressionErrors).sum() / denominator;
        return (classification.MoveToOuterDisposeScope(), regression.MoveToOuterDisposeScope());
    }

    private static (Tensor Positive, Tensor Negative, Tensor RegressionTarget) AnchorTargets(Tensor anchors, Tensor gtBoxes)
    {
        using var noGrad = no_grad();
        var (assigned, labels) = Sampling.Assign(BoxOps.Iou(anchors, gtBoxes), 0.7, 0.3, 0.3, lowQualityMatches: true);
        var (positive, negative) = Sampling.Sample(labels, 256, 0.5);
        var target = gtBoxes.shape[0] == 0
            ? zeros(0, 4, device: anchors.device)
            : BoxOps.Encode(anchors.index_select(0, positive), gtBoxes.index_select(0, assigned.index_select(0, positive)), UnitStds);
        return (positive, negative, target);
    }

    /// <summary>
    /// Proposals per image (no gradient): the top <see cref="DetectorConfig.RpnPreNmsPerLevel"/> anchors of each
    /// level by objectness, decoded and clipped, boxes under 1e-3 px wide or high dropped, NMS at
    /// <see cref="DetectorConfig.RpnNmsIou"/> within each level, best <paramref name="keep"/> kept (by objectness, ties
    /// to the finer level and the better-ranked anchor). All images are selected and decoded together; the boxes are
    /// read to the host once for the greedy NMS (<see cref="Nms.Greedy"/>). Returns one [P_i, 4] tensor per image.
    /// </summary>
    public Tensor[] Proposals(Tensor[] anchors, Tensor[] objectness, Tensor[] deltas, long height, long width, int keep)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        long batch = objectness[0].shape[0];
        Tensor allBoxes;
        long[] order;
        var levels = new List<long>();
        using (StepProfile.Measure("proposals: top-k, decode"))
        {
            var boxes = new List<Tensor>();
            var scores = new List<Tensor>();
            for (int l = 0; l < anchors.Length; l++)
            {
                int count = (int)Math.Min(config.RpnPreNmsPerLevel, objectness[l].shape[1]);
                var (top, index) = objectness[l].topk(count, dim: 1); // [B, count]
                var levelDeltas = deltas[l].gather(1, index.unsqueeze(2).expand(-1, -1, 4)).view(-1, 4);
                boxes.Add(BoxOps.Decode(anchors[l].index_select(0, index.view(-1)), levelDeltas, UnitStds, height, width).view(batch, count, 4));
                scores.Add(top);
                levels.AddRange(Enumerable.Repeat((long)l, count));
            }

            allBoxes = cat(boxes, 1); // [B, N, 4]
            order = cat(scores, 1).sort(1, descending: true, stable: true).Indices.cpu().data<long>().ToArray(); // [B, N]
        }

        using (StepProfile.Measure("proposals: NMS"))
        {
            int candidates = levels.Count;
            var groups = levels.ToArray();
            var hostBoxes = allBoxes.cpu().data<float>().ToArray();
            var chosen = new List<long>();
            var counts = new long[batch];
            for (int i = 0; i < batch; i++)
            {
                var imageBoxes = hostBoxes.AsSpan(i * candidates * 4, candidates * 4);
                var valid = NonEmptyInOrder(imageBoxes, order.AsSpan(i * candidates, candidates));
                var kept = Nms.Greedy(imageBoxes, valid, groups, config.RpnNmsIou, keep);
                counts[i] = kept.Count;
                chosen.AddRange(kept.Select(k => (long)i * candidates + k));
            }

            var selected = allBoxes.view(-1, 4).index_select(0, tensor(chosen.ToArray(), dtype: int64).to(allBoxes.device));
            return selected.split(counts).Select(t => t.MoveToOuterDisposeScope()).ToArray();
        }
    }

    /// <summary>The entries of <paramref name="order"/> whose box is over 1e-3 px wide and high (compared in float32).</summary>
    private static long[] NonEmptyInOrder(ReadOnlySpan<float> boxes, ReadOnlySpan<long> order)
    {
        var result = new List<long>(order.Length);
        foreach (long c in order)
        {
            var box = boxes.Slice((int)c * 4, 4);
            if (box[2] - box[0] > 1e-3f && box[3] - box[1] > 1e-3f)
            {
                result.Add(c);
            }
        }

        return result.ToArray();
    }
}
