using DeFeat.Tests.Shared;
using FasterRcnnDistillation.Data;
using FasterRcnnDistillation.Distillation;
using FasterRcnnDistillation.Model;
using FasterRcnnDistillation.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Tests;

public class TrainingMemoryTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Training_steps_leave_no_tensors_behind_with_or_without_DeFeat(bool distill)
    {
        // What one run keeps (parameters' gradients, optimizer state) does not depend on its length; anything a step
        // failed to free would make the longer run leave more live tensors.
        long afterOneStep = LiveTensorsLeftByTraining(steps: 1, distill);
        long afterSixSteps = LiveTensorsLeftByTraining(steps: 6, distill);

        afterSixSteps.Should().Be(afterOneStep);
    }

    private static long LiveTensorsLeftByTraining(int steps, bool distill)
    {
        manual_seed(8);
        var data = SyntheticShapes.Generate(2 * steps, seed: 15, imageSize: 64);
        using var teacher = new FasterRcnn(TinyDetector.Config(32, 32));
        using var student = new FasterRcnn(TinyDetector.Config(16, 16));
        using var objective = distill ? new DeFeatObjective(teacher, student, new DistillationOptions(), CPU) : null;
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        var history = Trainer.Train(student, data, new TrainingOptions { Epochs = 1, BatchSize = 2, WarmupSteps = 1 }, "memory", objective).History;

        history.Should().HaveCount(steps);
        long live = DisposeScopeManager.Statistics.ThreadTotalLiveCount - before;

        // Every logged loss term is finite; the last step's gradients are finite; and so are the trained weights, which
        // a NaN or infinite gradient at any earlier step would have spoilt (AdamW carries it into every weight it touches).
        history.SelectMany(record => record).Where(term => !double.IsFinite(term.Value))
            .Should().BeEmpty($"every loss term of the {steps}-step run must be finite");
        var trained = student.named_parameters().Select(item => ($"student.{item.name}", item.parameter))
            .Concat((objective?.Parameters ?? []).Select((parameter, index) => ($"objective parameter {index}", parameter)))
            .ToList();
        TrainingChecks.GradientsShouldBeFinite($"after the last of {steps} steps", trained);
        TrainingChecks.ValuesShouldBeFinite($"after {steps} steps", trained);
        return live;
    }
}
