using DeFeat.Losses.Features;
using DeFeat.Tests.Shared;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Features;

public class PkdLossMemoryTests
{
    [Fact]
    public void Forward_leaves_only_the_result_tensor_in_the_callers_scope()
    {
        using var inputs = torch.NewDisposeScope();
        Tensor[] students = [torch.randn(2, 3, 6, 6, dtype: ScalarType.Float16), torch.randn(2, 3, 3, 3)];
        Tensor[] teachers = [torch.randn(2, 3, 3, 3, dtype: ScalarType.Float16), torch.randn(2, 3, 3, 3)];
        using var loss = new PkdLoss();

        using var step = torch.NewDisposeScope();
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        loss.call(students, teachers);

        (DisposeScopeManager.Statistics.ThreadTotalLiveCount - before).Should().Be(1);
    }

    [Fact]
    public void Two_thousand_training_steps_keep_the_live_tensor_count_flat()
    {
        using var inputs = torch.NewDisposeScope();
        Tensor[] students = [torch.randn(2, 3, 4, 4).requires_grad_(), torch.randn(2, 3, 4, 2).requires_grad_()];
        Tensor[] teachers = [torch.randn(2, 3, 4, 4), torch.randn(2, 3, 2, 2)];
        using var loss = new PkdLoss(new PkdLossOptions { NormalizePerSample = true });

        var step = 0;

        void Step()
        {
            using var scope = torch.NewDisposeScope();
            var result = loss.call(students, teachers);
            result.backward();
            TrainingChecks.LossesShouldBeFinite($"at step {step}", [("pkd", result)]);
            step++;
        }

        while (step < 10)
        {
            Step();
        }

        var afterWarmUp = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        while (step < 2_010)
        {
            Step();
        }

        DisposeScopeManager.Statistics.ThreadTotalLiveCount.Should().Be(afterWarmUp);
        TrainingChecks.GradientsShouldBeFinite("after the steps", students.Select((student, level) => ($"student level {level}", student)));
    }
}
