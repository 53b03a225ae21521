using DeFeat.Losses.Dense;
using DeFeat.Tests.Shared;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Dense;

public class DecoupledDenseKdLossMemoryTests
{
    [Theory]
    [InlineData(DenseKdActivation.Sigmoid)]
    [InlineData(DenseKdActivation.Softmax)]
    public void Forward_leaves_only_the_result_tensors_in_the_callers_scope(DenseKdActivation activation)
    {
        using var inputs = torch.NewDisposeScope();
        var (students, teachers, weights) = DenseKdInputs.Random(2, 2, 3, ScalarType.Float16, softWeights: false, new(5, 5), new(3, 3, PerAnchorWeights: true));
        using var loss = new DecoupledDenseKdLoss(new DecoupledDenseKdLossOptions
        {
            Classes = 3, AnchorsPerLocation = 2, Activation = activation, BackgroundTemperature = 2,
        });

        using var step = torch.NewDisposeScope();
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var result = loss.call(students, teachers, weights);

        // Object, Background, Total and each of the 2 levels' two shares: 3 + 2·2.
        result.ObjectByLevel.Should().HaveCount(2);
        (DisposeScopeManager.Statistics.ThreadTotalLiveCount - before).Should().Be(3 + (2 * 2));
    }

    [Fact]
    public void Two_thousand_training_steps_keep_the_live_tensor_count_flat()
    {
        using var inputs = torch.NewDisposeScope();
        var (students, teachers, weights) = DenseKdInputs.Random(2, 2, 3, ScalarType.Float32, softWeights: true, new(4, 4), new(2, 2, PerAnchorWeights: true));
        foreach (var student in students)
        {
            student.requires_grad_();
        }

        using var loss = new DecoupledDenseKdLoss(new DecoupledDenseKdLossOptions
        {
            Classes = 3, AnchorsPerLocation = 2, ObjectTemperature = 2, BackgroundTemperature = 0.5,
        });

        var step = 0;

        void Step()
        {
            using var scope = torch.NewDisposeScope();
            var result = loss.call(students, teachers, weights);
            result.Total.backward();
            TrainingChecks.LossesShouldBeFinite($"at step {step}", [("object", result.Object), ("background", result.Background), ("total", result.Total)]);
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
        // The gradients accumulate over the steps (no zero_grad), so one NaN or infinity at any step would remain.
        TrainingChecks.GradientsShouldBeFinite("after the steps", students.Select((student, level) => ($"student level {level}", student)));
    }
}
