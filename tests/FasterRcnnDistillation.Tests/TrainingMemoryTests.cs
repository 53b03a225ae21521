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
        using var objective = distill ? new DeFeatObjective(teacher, student, new DistillationSettings(), CPU) : null;
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        var history = Trainer.Train(student, data, new TrainingOptions { Epochs = 1, BatchSize = 2, WarmupSteps = 1 }, "memory", objective);

        history.Should().HaveCount(steps);
        return DisposeScopeManager.Statistics.ThreadTotalLiveCount - before;
    }
}
