namespace FasterRcnnDistillation.Evaluation;

/// <summary>One detection: image index, xyxy box in pixels, class label in [0, K), confidence score.</summary>
public sealed record Detection(int ImageIndex, float[] Box, int Label, float Score);

/// <summary>One ground-truth object: image index, xyxy box in pixels, class label in [0, K).</summary>
public sealed record GroundTruth(int ImageIndex, float[] Box, int Label);

/// <summary>
/// COCO-style box mAP: mean over IoU thresholds 0.50:0.05:0.95 and over classes with at least one ground truth of
/// the 101-point interpolated AP. Matching follows pycocotools: per image and class, detections (best first, at most
/// <c>maxDetections</c>) take the unmatched ground truth of highest IoU ≥ the threshold.
/// </summary>
public static class CocoEvaluator
{
    public static readonly double[] IouThresholds = Enumerable.Range(0, 10).Select(i => 0.5 + 0.05 * i).ToArray();

    public static EvaluationResult Evaluate(
        IReadOnlyList<Detection> detections, IReadOnlyList<GroundTruth> groundTruths, int classes, int maxDetections = 100)
    {
        var apPerClass = new List<double[]>();
        for (int label = 0; label < classes; label++)
        {
            var gts = groundTruths.Where(g => g.Label == label).ToList();
            if (gts.Count == 0)
            {
                continue;
            }

            var dets = detections.Where(d => d.Label == label)
                .GroupBy(d => d.ImageIndex)
                .SelectMany(g => g.OrderByDescending(d => d.Score).Take(maxDetections))
                .ToList();
            apPerClass.Add(IouThresholds.Select(t => AveragePrecision(dets, gts, t)).ToArray());
        }

        if (apPerClass.Count == 0)
        {
            return new EvaluationResult(0, 0, 0);
        }

        return new EvaluationResult(
            apPerClass.Average(a => a.Average()),
            apPerClass.Average(a => a[0]),
            apPerClass.Average(a => a[5]));
    }

    /// <summary>AP at one IoU threshold for one class: 101-point interpolated precision.</summary>
    public static double AveragePrecision(IReadOnlyList<Detection> detections, IReadOnlyList<GroundTruth> groundTruths, double iouThreshold)
    {
        var gtByImage = groundTruths.GroupBy(g => g.ImageIndex).ToDictionary(g => g.Key, g => g.ToList());
        var matched = new HashSet<GroundTruth>();
        var ordered = detections.OrderByDescending(d => d.Score).ToList();
        var truePositive = new bool[ordered.Count];
        for (int i = 0; i < ordered.Count; i++)
        {
            var detection = ordered[i];
            GroundTruth? best = null;
            double bestIou = Math.Min(iouThreshold, 1 - 1e-10);
            foreach (var gt in gtByImage.GetValueOrDefault(detection.ImageIndex) ?? new List<GroundTruth>())
            {
                double iou = Iou(detection.Box, gt.Box);
                if (!matched.Contains(gt) && iou >= bestIou)
                {
                    bestIou = iou;
                    best = gt;
                }
            }

            if (best is not null)
            {
                matched.Add(best);
                truePositive[i] = true;
            }
        }

        var precision = new double[ordered.Count];
        var recall = new double[ordered.Count];
        int tp = 0;
        for (int i = 0; i < ordered.Count; i++)
        {
            tp += truePositive[i] ? 1 : 0;
            precision[i] = tp / (double)(i + 1);
            recall[i] = tp / (double)groundTruths.Count;
        }

        for (int i = ordered.Count - 2; i >= 0; i--)
        {
            precision[i] = Math.Max(precision[i], precision[i + 1]);
        }

        double sum = 0;
        for (int r = 0; r <= 100; r++)
        {
            double threshold = r / 100.0;
            int index = Array.FindIndex(recall, v => v >= threshold);
            sum += index >= 0 ? precision[index] : 0;
        }

        return sum / 101;
    }

    public static double Iou(float[] a, float[] b)
    {
        double iw = Math.Max(0, Math.Min(a[2], b[2]) - Math.Max(a[0], b[0]));
        double ih = Math.Max(0, Math.Min(a[3], b[3]) - Math.Max(a[1], b[1]));
        double intersection = iw * ih;
        double union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection;
        return union <= 0 ? 0 : intersection / union;
    }
}

/// <summary>mAP@[.5:.95], mAP@.5 and mAP@.75, as fractions in [0, 1].</summary>
public sealed record EvaluationResult(double Map, double Map50, double Map75);
