using DeFeat.Hooks.Recording;
using DeFeat.Hooks.Tests.Toys;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests;

public class SmokeTaps
{
    [Fact]
    public void Two_stage_hook_tap_captures_neck()
    {
        using var scope = torch.NewDisposeScope();
        var model = new TwoStageToy(4, 1);
        using var tap = new FeatureTap(model, "neck");
        model.call(torch.randn(2, 3, 16, 16));
        tap.Features.Should().HaveCount(2);
        ReferenceEquals(tap.Features[0], model.Neck.LastOutput[0]).Should().BeTrue();
    }

    [Fact]
    public void One_stage_wrapper_tap_captures_tuple_neck()
    {
        using var scope = torch.NewDisposeScope();
        var model = new OneStageToy(4, CallStyle.Forward);
        using var tap = new FeatureTap(model, "neck", TapMode.Wrapper);
        model.call(torch.randn(2, 3, 16, 16));
        tap.Features.Should().HaveCount(2);
        ReferenceEquals(tap.Features[1], model.Neck.LastOutput.P2).Should().BeTrue();
    }
}
