using DeFeat.Tests.Shared;
using FasterRcnnDistillation.Data;
using FasterRcnnDistillation.Distillation;
using FasterRcnnDistillation.Model;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Tests;

public class DetectorTests
{
    [Fact]
    public void Anchors_are_centred_on_cells_with_the_configured_size_and_ratios()
    {
        using var anchors = RegionProposalNetwork.Anchors(2, 3, stride: 4, scale: 4, ratios: new[] { 0.5, 1.0, 2.0 }, CPU);

        // 2 × 3 cells × 3 ratios; cell (0, 0) is centred at (2, 2); size 16: ratio 1 → [−6, −6, 10, 10];
        // ratio h/w = 0.5 → w = 16/√0.5, h = 16·√0.5. The last anchor is cell (1, 2), centre (10, 6), ratio 2.
        anchors.shape.Should().Equal(18, 4);
        double w = 16 / Math.Sqrt(0.5), h = 16 * Math.Sqrt(0.5);
        anchors[0].data<float>().ToArray().Should().Equal(new[] { (float)(2 - w / 2), (float)(2 - h / 2), (float)(2 + w / 2), (float)(2 + h / 2) }, Close);
        anchors[1].data<float>().ToArray().Should().Equal(new[] { -6f, -6f, 10f, 10f }, Close);
        anchors[17].data<float>().ToArray().Should().Equal(new[] { (float)(10 - h / 2), (float)(6 - w / 2), (float)(10 + h / 2), (float)(6 + w / 2) }, Close);
    }

    [Fact]
    public void Assigner_applies_the_thresholds_and_low_quality_matches()
    {
        // Rows: candidates, columns: GTs. GT 1's best candidate (row 2, IoU 0.4) becomes positive for it.
        using var iou = tensor(new float[] { 0.8f, 0.1f, 0.5f, 0.2f, 0.1f, 0.4f, 0.2f, 0.1f }, 4, 2);

        var (assigned, labels) = Sampling.Assign(iou, 0.7, 0.3, 0.3, lowQualityMatches: true);

        labels.data<long>().ToArray().Should().Equal(1L, -1L, 1L, 0L);
        assigned[0].item<long>().Should().Be(0);
        assigned[2].item<long>().Should().Be(1);
    }

    [Fact]
    public void Sampler_caps_positives_and_fills_with_negatives()
    {
        using var labels = tensor(new long[] { 1, 1, 1, 0, 0, 0, 0, -1 });

        var (positive, negative) = Sampling.Sample(labels, total: 4, positiveFraction: 0.5);

        positive.shape[0].Should().Be(2);
        negative.shape[0].Should().Be(2);
        positive.data<long>().ToArray().Should().OnlyContain(i => i < 3);
        negative.data<long>().ToArray().Should().OnlyContain(i => i >= 3 && i < 7);
    }

    [Fact]
    public void A_training_step_gives_finite_losses_and_gradients_and_detection_works()
    {
        manual_seed(3);
        var data = SyntheticShapes.Generate(2, seed: 11, imageSize: 64);
        using var model = new FasterRcnn(TinyDetector.Config(16, 16));
        model.train();
        using var batch = DetectionBatch.Collate(data.Samples, CPU);

        var output = model.TrainingForward(batch);
        var total = output.Losses.Values.Aggregate((a, b) => a + b);
        total.backward();

        output.Losses.Keys.Should().BeEquivalentTo("rpn_cls", "rpn_reg", "rcnn_cls", "rcnn_reg");
        output.Losses.Values.Should().OnlyContain(v => float.IsFinite(v.item<float>()));
        TrainingChecks.GradientsShouldBeFinite("after one training step", model.named_parameters());
        model.eval();
        model.Detect(batch.Images, 0).Should().OnlyContain(d => d.Score >= 0.05f && d.Label >= 0 && d.Label < 5 && d.ImageIndex < 2);
    }

    [Fact]
    public void Checkpoints_round_trip_through_save_and_load()
    {
        manual_seed(4);
        var data = SyntheticShapes.Generate(1, seed: 12, imageSize: 64);
        using var batch = DetectionBatch.Collate(data.Samples, CPU);
        string path = Path.Combine(Path.GetTempPath(), $"frcnn-{Guid.NewGuid():N}.bin");
        try
        {
            using var original = new FasterRcnn(TinyDetector.Config(16, 16));
            original.eval();
            original.save(path);
            manual_seed(5);
            using var restored = new FasterRcnn(TinyDetector.Config(16, 16));
            restored.load(path);
            restored.eval();

            using var a = original.call(batch.Images)[0];
            using var b = restored.call(batch.Images)[0];
            a.allclose(b).Should().BeTrue();
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void DeFeat_attaches_from_outside_and_detaches_on_dispose()
    {
        manual_seed(6);
        var data = SyntheticShapes.Generate(2, seed: 13, imageSize: 64);
        using var teacher = new FasterRcnn(TinyDetector.Config(32, 32));
        using var student = new FasterRcnn(TinyDetector.Config(16, 16));
        student.train();
        using var batch = DetectionBatch.Collate(data.Samples, CPU);

        using (var objective = new DeFeatObjective(teacher, student, new DistillationOptions(), CPU))
        {
            objective.BeforeStudent(batch);
            var output = student.TrainingForward(batch);
            var step = objective.Losses(batch, output.Losses.Values.Aggregate((a, c) => a + c));
            var losses = step.Parts;

            losses.Keys.Should().BeEquivalentTo("neck_object", "neck_background", "proposal_object", "proposal_background");
            losses.Values.Should().OnlyContain(v => float.IsFinite(v.item<float>()));
            // The student's RoI head classified the teacher's sampled RoIs: 32 per image (positives + negatives).
            output.Rois.Rois.shape[0].Should().BeLessThanOrEqualTo(64);
            objective.Parameters.Should().NotBeEmpty();
            teacher.parameters().Should().OnlyContain(p => !p.requires_grad);
        }

        // Detached: a plain training forward works without the teacher having run.
        var plain = student.TrainingForward(batch);
        plain.Losses.Values.Should().OnlyContain(v => float.IsFinite(v.item<float>()));
    }

    private static bool Close(float a, float b) => Math.Abs(a - b) < 1e-4;
}
