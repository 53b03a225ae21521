using FasterRcnnDistillation.Evaluation;

namespace FasterRcnnDistillation.Tests;

public class CocoEvaluatorTests
{
    private static readonly float[] Square = { 0, 0, 10, 10 };

    [Fact]
    public void A_perfect_detection_scores_one_at_every_threshold()
    {
        var result = CocoEvaluator.Evaluate(
            new[] { new Detection(0, Square, 0, 0.9f) }, new[] { new GroundTruth(0, Square, 0) }, classes: 1);

        result.Map.Should().BeApproximately(1, 1e-12);
        result.Map50.Should().BeApproximately(1, 1e-12);
    }

    [Fact]
    public void A_false_positive_between_two_hits_gives_the_hand_computed_101_point_ap()
    {
        var other = new float[] { 20, 20, 30, 30 };
        var detections = new[]
        {
            new Detection(0, Square, 0, 0.9f),
            new Detection(0, new float[] { 50, 50, 60, 60 }, 0, 0.8f),
            new Detection(0, other, 0, 0.7f),
        };
        var groundTruths = new[] { new GroundTruth(0, Square, 0), new GroundTruth(0, other, 0) };

        double ap = CocoEvaluator.AveragePrecision(detections, groundTruths, 0.5);

        // Precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1; envelope 1, 2/3, 2/3. Recall points 0.00..0.50 (51 of them)
        // read precision 1, points 0.51..1.00 (50) read 2/3.
        ap.Should().BeApproximately((51 + 50 * 2.0 / 3) / 101, 1e-12);
    }

    [Fact]
    public void Map_averages_over_the_ten_iou_thresholds()
    {
        // IoU 62/100 = 0.62: a hit at 0.50, 0.55 and 0.60 only.
        var result = CocoEvaluator.Evaluate(
            new[] { new Detection(0, new float[] { 0, 0, 10, 6.2f }, 0, 0.9f) }, new[] { new GroundTruth(0, Square, 0) }, classes: 1);

        result.Map50.Should().BeApproximately(1, 1e-12);
        result.Map75.Should().Be(0);
        result.Map.Should().BeApproximately(0.3, 1e-12);
    }

    [Fact]
    public void A_duplicate_detection_is_a_false_positive_and_half_recall_caps_the_ap()
    {
        var detections = new[] { new Detection(0, Square, 0, 0.9f), new Detection(0, Square, 0, 0.8f) };
        var groundTruths = new[] { new GroundTruth(0, Square, 0), new GroundTruth(1, Square, 0) };

        double ap = CocoEvaluator.AveragePrecision(detections, groundTruths, 0.5);

        // Recall reaches 1/2 only: points 0.00..0.50 read precision 1, the other 50 read 0.
        ap.Should().BeApproximately(51.0 / 101, 1e-12);
    }

    [Fact]
    public void Classes_without_ground_truth_are_ignored_and_missed_classes_count_as_zero()
    {
        var detections = new[] { new Detection(0, Square, 0, 0.9f), new Detection(0, Square, 2, 0.9f) };
        var groundTruths = new[] { new GroundTruth(0, Square, 0), new GroundTruth(0, new float[] { 40, 40, 50, 50 }, 1) };

        var result = CocoEvaluator.Evaluate(detections, groundTruths, classes: 3);

        // Class 0: AP 1; class 1: AP 0 (no detection); class 2: no ground truth, left out of the mean.
        result.Map.Should().BeApproximately(0.5, 1e-12);
    }

    [Fact]
    public void Detections_only_match_ground_truth_of_their_own_image()
    {
        var result = CocoEvaluator.Evaluate(
            new[] { new Detection(1, Square, 0, 0.9f) }, new[] { new GroundTruth(0, Square, 0) }, classes: 1);

        result.Map.Should().Be(0);
    }

    [Fact]
    public void Only_the_best_max_detections_per_image_are_kept()
    {
        var detections = new[]
        {
            new Detection(0, new float[] { 50, 50, 60, 60 }, 0, 0.9f),
            new Detection(0, Square, 0, 0.8f),
        };

        var result = CocoEvaluator.Evaluate(detections, new[] { new GroundTruth(0, Square, 0) }, classes: 1, maxDetections: 1);

        result.Map.Should().Be(0);
    }
}
