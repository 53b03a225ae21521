using System.Runtime;
using FasterRcnnDistillation.Data;
using FasterRcnnDistillation.Model;
using FasterRcnnDistillation.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Tests;

[Collection(SeededRunsCollection.Name)]
public class CollectionPauseTests
{
    [Fact]
    public void Training_steps_run_inside_a_no_gc_region_that_their_allocations_do_not_exhaust()
    {
        var data = SyntheticShapes.Generate(6, seed: 23, imageSize: 64);
        using var student = new FasterRcnn(TinyDetector.Config(16, 16));
        var probe = new ModeProbe();
        int endedEarly = CollectionPause.EndedEarly;

        var run = Trainer.Train(student, data, new TrainingOptions { Epochs = 1, BatchSize = 2, WarmupSteps = 1 }, "pause", probe);

        run.History.Should().HaveCount(3).And.OnlyContain(record => double.IsFinite(record["total"]));
        probe.Modes.Should().Equal(Enumerable.Repeat(GCLatencyMode.NoGCRegion, 6), "before and after the student's forward of each of the 3 steps");
        CollectionPause.EndedEarly.Should().Be(endedEarly, "a step must allocate less than the region's budget");
        GCSettings.LatencyMode.Should().NotBe(GCLatencyMode.NoGCRegion, "the region ends with its step");
    }

    /// <summary>Records the GC latency mode when the trainer calls it, before and after the student's forward.</summary>
    private sealed class ModeProbe : IDistillationObjective
    {
        public List<GCLatencyMode> Modes { get; } = [];

        public IEnumerable<Parameter> Parameters => [];

        public void BeforeStudent(DetectionBatch batch) => Modes.Add(GCSettings.LatencyMode);

        public DistillationStep Losses(DetectionBatch batch, Tensor taskLoss)
        {
            Modes.Add(GCSettings.LatencyMode);
            return new DistillationStep(new Dictionary<string, Tensor>(), zeros([]), new Dictionary<string, Tensor>());
        }

        public IDisposable Suspend() => new MemoryStream();

        public void Save(string path)
        {
        }

        public void Load(string path)
        {
        }
    }
}
