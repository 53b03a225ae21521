using DeFeat.Losses.Adaptation;
using DeFeat.Losses.Features;
using DeFeat.Losses.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Features;

public class DecoupledFeatureLossMemoryTests
{
    [Fact]
    public void Forward_leaves_only_the_three_result_tensors_in_the_callers_scope()
    {
        using var inputs = torch.NewDisposeScope();
        var (students, teachers, masks) = FeatureLossInputs.Random(2, ScalarType.Float16, softMasks: false, new(3, 4, 5, 5), new(2, 4, 3, 3));
        using var adapters = new FeatureAdapters([3, 2], [4, 4]);
        using var loss = new DecoupledFeatureLoss(adapters: adapters);

        using var step = torch.NewDisposeScope();
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        loss.call(students, teachers, masks);

        (DisposeScopeManager.Statistics.ThreadTotalLiveCount - before).Should().Be(3);
    }

    [Fact]
    public void Two_thousand_training_steps_keep_the_live_tensor_count_flat()
    {
        using var inputs = torch.NewDisposeScope();
        var (students, teachers, masks) = FeatureLossInputs.Random(2, ScalarType.Float32, softMasks: true, new(3, 4, 4, 4), new(2, 4, 2, 2));
        foreach (var student in students)
        {
            student.requires_grad_();
        }

        using var adapters = new FeatureAdapters([3, 2], [4, 4]);
        using var loss = new DecoupledFeatureLoss(adapters: adapters);

        void Step()
        {
            using var step = torch.NewDisposeScope();
            loss.call(students, teachers, masks).Total.backward();
        }

        for (var i = 0; i < 10; i++)
        {
            Step();
        }

        var afterWarmUp = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (var i = 0; i < 2_000; i++)
        {
            Step();
        }

        DisposeScopeManager.Statistics.ThreadTotalLiveCount.Should().Be(afterWarmUp);
    }
}
