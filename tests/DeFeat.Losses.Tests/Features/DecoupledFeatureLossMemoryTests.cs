using DeFeat.Losses.Adaptation;
using DeFeat.Losses.Features;
using DeFeat.Losses.Tests.Support;
using DeFeat.Tests.Shared;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Features;

public class DecoupledFeatureLossMemoryTests
{
    [Fact]
    public void Forward_leaves_only_the_result_tensors_in_the_callers_scope()
    {
        using var inputs = torch.NewDisposeScope();
        var (students, teachers, masks) = FeatureLossInputs.Random(2, ScalarType.Float16, softMasks: false, new(3, 4, 5, 5), new(2, 4, 3, 3));
        using var adapters = new FeatureAdapters([3, 2], [4, 4]);
        using var loss = new DecoupledFeatureLoss(adapters: adapters);

        using var step = torch.NewDisposeScope();
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var result = loss.call(students, teachers, masks);

        // Object, Background, Total and each of the 2 levels' two shares: 3 + 2·2.
        result.ObjectByLevel.Should().HaveCount(2);
        (DisposeScopeManager.Statistics.ThreadTotalLiveCount - before).Should().Be(3 + (2 * 2));
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

        var step = 0;

        void Step()
        {
            using var scope = torch.NewDisposeScope();
            var result = loss.call(students, teachers, masks);
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

        // Correct, not only finite: one step on copies of the trained adapters and of the inputs, float32 against float64
        // (the adapters 3→4 and 2→4 are convolutions whose output channels are not a multiple of 16).
        Float64GradientReference.ShouldMatch("one step of the loss with adapters 3→4 and 2→4", dtype =>
        {
            var copy = new FeatureAdapters([3, 2], [4, 4]);
            copy.load_state_dict(adapters.state_dict());
            copy.to(dtype);
            using var copyLoss = new DecoupledFeatureLoss(adapters: copy);
            var leaves = students.Select(student => student.detach().to(dtype).requires_grad_()).ToList();
            copyLoss.call(leaves, teachers.Select(teacher => teacher.to(dtype)).ToList(), masks).Total.backward();
            return leaves.Select((leaf, level) => ($"student level {level}", leaf.grad!))
                .Concat(copy.named_parameters().Select(item => ($"adapters.{item.name}", item.parameter.grad!.clone())))
                .ToDictionary(item => item.Item1, item => item.Item2);
        });

        // The gradients accumulate over the steps (no zero_grad), so one NaN or infinity at any step would remain.
        TrainingChecks.GradientsShouldBeFinite(
            "after the steps",
            students.Select((student, level) => ($"student level {level}", student))
                .Concat(adapters.named_parameters().Select(item => ($"adapters.{item.name}", (Tensor)item.parameter))));
    }
}
