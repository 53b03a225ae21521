using DeFeat.Tests.Shared;
using FasterRcnnDistillation.Data;
using FasterRcnnDistillation.Distillation;
using FasterRcnnDistillation.Model;
using FasterRcnnDistillation.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Tests;

[Collection(SeededRunsCollection.Name)]
public sealed class CheckpointTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), $"frcnn-checkpoint-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_run_that_crashed_and_was_resumed_ends_exactly_like_one_that_never_stopped(bool balanced)
    {
        var data = SyntheticShapes.Generate(8, seed: 21, imageSize: 64);
        var options = new TrainingOptions { Epochs = 2, BatchSize = 4, WarmupSteps = 1, Seed = 3, CheckpointEvery = 2 };

        // Uninterrupted: 4 steps (2 epochs of 2), with DeFeat (adaptation layers and the distiller's step are state too).
        var (straight, straightAdapters, straightRun) = TrainDistilled(data, options with { CheckpointFolder = Path.Combine(folder, "straight") }, crashAtStep: null, initSeed: 5, balanced);

        // Interrupted: the third step throws (a crash after the checkpoint of step 2, in the second epoch) ...
        string resumed = Path.Combine(folder, "resumed");
        var crash = () => TrainDistilled(data, options with { CheckpointFolder = resumed }, crashAtStep: 2, initSeed: 5, balanced);
        crash.Should().Throw<SimulatedCrash>();
        TrainingCheckpoint.Exists(resumed).Should().BeTrue();

        // ... and a new process (fresh models with other initial weights) resumes from the checkpoint.
        var (again, againAdapters, againRun) = TrainDistilled(data, options with { CheckpointFolder = resumed, Resume = true }, crashAtStep: null, initSeed: 99, balanced);

        againRun.History.Should().HaveCount(4);
        if (balanced)
        {
            // The balancer measured at step 0 only (interval 10): the resumed steps must use the restored scales.
            straightRun.History.Should().OnlyContain(step => step.ContainsKey("kd_scale_neck0") && step["kd_scale_neck0"] < 1);
        }

        againRun.History.Should().BeEquivalentTo(straightRun.History, o => o.WithStrictOrdering());
        TrainingChecks.ValuesShouldBeFinite("resumed", again.Select((p, i) => ($"student {i}", p)).ToList());
        for (int i = 0; i < straight.Count; i++)
        {
            again[i].data<float>().ToArray().Should().Equal(straight[i].data<float>().ToArray(), $"student parameter {i} must be restored exactly");
        }

        againAdapters.Should().HaveCount(straightAdapters.Count).And.NotBeEmpty();
        for (int i = 0; i < straightAdapters.Count; i++)
        {
            againAdapters[i].data<float>().ToArray().Should().Equal(straightAdapters[i].data<float>().ToArray(), $"adaptation parameter {i}");
        }
    }

    [Fact]
    public void Resuming_with_other_settings_fails_naming_what_differs()
    {
        var (data, options) = TrainTinyRunWithCheckpoint();
        using var second = new FasterRcnn(TinyDetector.Config(16, 16));
        var resume = () => Trainer.Train(second, data, options with { Seed = 4, Resume = true }, "run");

        resume.Should().Throw<InvalidOperationException>().WithMessage("*seed: this run 4, checkpoint 3*same command and options*");
    }

    [Fact]
    public void Resuming_with_another_roi_sample_count_fails_naming_it()
    {
        var (data, options) = TrainTinyRunWithCheckpoint();
        using var second = new FasterRcnn(TinyDetector.Config(16, 16) with { RoiSamples = 64 });
        var resume = () => Trainer.Train(second, data, options with { Resume = true }, "run");

        resume.Should().Throw<InvalidOperationException>().WithMessage("*RoI samples per image*: this run 64, checkpoint 32*");
    }

    /// <summary>Trains a tiny detector (seed 3, 2 steps) with checkpoints in <c>folder</c>; returns its data and options.</summary>
    private (DetectionDataset Data, TrainingOptions Options) TrainTinyRunWithCheckpoint()
    {
        var data = SyntheticShapes.Generate(4, seed: 22, imageSize: 64);
        var options = new TrainingOptions { Epochs = 1, BatchSize = 2, WarmupSteps = 1, Seed = 3, CheckpointFolder = folder };
        using var first = new FasterRcnn(TinyDetector.Config(16, 16));
        Trainer.Train(first, data, options, "run");
        return (data, options);
    }

    /// <summary>
    /// Trains a tiny student with DeFeat from a tiny teacher (with a DistillationBalancer when <paramref name="balanced"/>); returns
    /// copies of the student's and adapters' parameters.
    /// </summary>
    private static (List<Tensor> Student, List<Tensor> Adapters, TrainingRun Run) TrainDistilled(
        DetectionDataset data, TrainingOptions options, int? crashAtStep, int initSeed, bool balanced)
    {
        manual_seed(17);
        using var teacher = new FasterRcnn(TinyDetector.Config(32, 32));
        manual_seed(initSeed);
        using var student = new FasterRcnn(TinyDetector.Config(16, 16));
        using var defeat = new DeFeatObjective(teacher, student, new DistillationOptions { BalanceRatio = balanced ? 1e-3 : null }, CPU);
        var objective = new CrashingObjective(defeat, crashAtStep);
        var run = Trainer.Train(student, data, options, "checkpointed", objective);
        return (Copies(student.parameters()), Copies(defeat.Parameters), run);
    }

    private static List<Tensor> Copies(IEnumerable<Parameter> parameters) => parameters.Select(p => p.detach().clone()).ToList();

    private sealed class SimulatedCrash : Exception
    {
    }

    /// <summary>Passes everything to <c>inner</c>, but throws before the student's forward of step <c>crashAtStep</c>.</summary>
    private sealed class CrashingObjective(IDistillationObjective inner, int? crashAtStep) : IDistillationObjective
    {
        private int step;

        public IEnumerable<Parameter> Parameters => inner.Parameters;

        public void BeforeStudent(DetectionBatch batch)
        {
            if (step++ == crashAtStep)
            {
                throw new SimulatedCrash();
            }

            inner.BeforeStudent(batch);
        }

        public DistillationStep Losses(DetectionBatch batch, Tensor taskLoss) => inner.Losses(batch, taskLoss);

        public IDisposable Suspend() => inner.Suspend();

        public void Save(string path) => inner.Save(path);

        public void Load(string path) => inner.Load(path);
    }
}
