using DeFeat.Hooks.Interception;
using DeFeat.Hooks.Recording;
using DeFeat.Hooks.Tests.Support;
using DeFeat.Hooks.Tests.Toys;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Recording;

public class FeatureTapTests
{
    private static Tensor Images() => torch.randn(2, 3, 16, 16);

    [Theory]
    [InlineData(TapMode.Hook, CallStyle.Call)]
    [InlineData(TapMode.Wrapper, CallStyle.Call)]
    [InlineData(TapMode.Wrapper, CallStyle.Forward)]
    public void Two_stage_tap_captures_exactly_the_tensors_the_neck_returns(TapMode mode, CallStyle style)
    {
        using var scope = torch.NewDisposeScope();
        using var model = new TwoStageToy(4, 1, style);
        using var tap = new FeatureTap(model, "neck", mode);

        model.call(Images());

        var returned = model.Neck.LastOutput;
        tap.Features.Should().HaveCount(2);
        TensorIdentity.SameTensor(tap.Features[0], returned[0]).Should().BeTrue();
        TensorIdentity.SameTensor(tap.Features[1], returned[1]).Should().BeTrue();
        tap.Features[0].shape.Should().Equal(2, 8, 8, 8);
        tap.Features[1].shape.Should().Equal(2, 8, 4, 4);
    }

    [Theory]
    [InlineData(TapMode.Hook, CallStyle.Call)]
    [InlineData(TapMode.Wrapper, CallStyle.Call)]
    [InlineData(TapMode.Wrapper, CallStyle.Forward)]
    public void One_stage_tap_captures_the_value_tuple_the_neck_returns_and_leaves_it_intact(TapMode mode, CallStyle style)
    {
        using var scope = torch.NewDisposeScope();
        using var model = new OneStageToy(4, style);
        using var tap = new FeatureTap(model, "neck", mode);

        var loss = model.call(Images());

        var (p1, p2) = model.Neck.LastOutput;
        tap.Features.Should().HaveCount(2);
        TensorIdentity.SameTensor(tap.Features[0], p1).Should().BeTrue();
        TensorIdentity.SameTensor(tap.Features[1], p2).Should().BeTrue();
        // The hook returned the tuple it was given: the detector's result is unchanged and finite.
        loss.isfinite().item<bool>().Should().BeTrue();
    }

    [Fact]
    public void A_tap_on_a_three_argument_head_with_a_tuple_result_captures_its_items_and_keeps_the_result()
    {
        using var scope = torch.NewDisposeScope();
        using var model = new TwoStageToy(4, 1);
        using var tap = new FeatureTap(model, "roi_head");

        model.call(Images());

        tap.Features.Should().HaveCount(2);
        TensorIdentity.SameTensor(tap.Features[0], model.RoiHead.LastLogits).Should().BeTrue();
        tap.Features[0].shape.Should().Equal(12, TwoStageToy.Classes + 1);
        tap.Features[1].dim().Should().Be(0);
    }

    [Fact]
    public void A_selector_turns_other_outputs_into_tensors()
    {
        using var scope = torch.NewDisposeScope();
        using var model = new OneStageToy(4);
        using var tap = new FeatureTap(model, "neck", selector: output => [(((Tensor P1, Tensor P2))output).P2]);

        model.call(Images());

        tap.Features.Should().ContainSingle();
        TensorIdentity.SameTensor(tap.Features[0], model.Neck.LastOutput.P2).Should().BeTrue();
    }

    [Fact]
    public void Nested_paths_resolve()
    {
        using var scope = torch.NewDisposeScope();
        using var model = new TwoStageToy(4, 1);
        using var tap = new FeatureTap(model, "neck.lateral2");

        model.call(Images());

        tap.Features.Single().shape.Should().Equal(2, 8, 4, 4);
    }

    [Theory]
    [InlineData("nek", "'neck'")]
    [InlineData("backbone.conv3", "'backbone.conv1'")]
    [InlineData("roi_haed", "'roi_head'")]
    public void A_wrong_path_fails_at_attach_time_listing_the_nearest_valid_paths(string path, string suggestion)
    {
        using var model = new TwoStageToy(4, 1);

        var attach = () => new FeatureTap(model, path);

        var error = attach.Should().Throw<ArgumentException>().Which;
        error.ParamName.Should().Be("path");
        error.Message.Should().Contain($"'{path}'").And.Contain("nearest valid paths").And.Contain(suggestion);
        error.Message.Split("', '").Length.Should().BeLessThanOrEqualTo(5);
    }

    [Fact]
    public void A_wrong_path_on_the_one_stage_toy_lists_its_paths()
    {
        using var model = new OneStageToy(4);

        var attach = () => new FeatureTap(model, "neck.fpn.lateral3");

        attach.Should().Throw<ArgumentException>().WithMessage("*'neck.fpn.lateral1'*");
    }

    [Fact]
    public void A_hook_tap_on_a_forward_calling_parent_explains_call_versus_forward()
    {
        using var scope = torch.NewDisposeScope();
        using var twoStage = new TwoStageToy(4, 1, CallStyle.Forward);
        using var oneStage = new OneStageToy(4, CallStyle.Forward);
        using var twoStageTap = new FeatureTap(twoStage, "neck", TapMode.Hook);
        using var oneStageTap = new FeatureTap(oneStage, "neck", TapMode.Hook);

        twoStage.call(Images());
        oneStage.call(Images());

        foreach (var tap in new[] { twoStageTap, oneStageTap })
        {
            tap.HasCapture.Should().BeFalse();
            var read = () => tap.Features;
            read.Should().Throw<InvalidOperationException>()
                .WithMessage("*.call(...)*.forward(...)*TapMode.Auto*");
        }
    }

    [Fact]
    public void Wrapper_mode_refuses_a_field_declared_with_the_concrete_class()
    {
        using var model = new ConcreteFieldToy();

        var attach = () => new FeatureTap(model, "neck", TapMode.Wrapper);

        attach.Should().Throw<ArgumentException>().WithMessage("*declared as ToyFpn*nn.Module<Tensor[], Tensor[]>*");
        HookInspection.HookCount(model.NeckModule).Should().Be(0);
    }

    [Theory]
    [InlineData(TapMode.Hook)]
    [InlineData(TapMode.Wrapper)]
    public void Disposing_two_stage_taps_leaves_the_model_hook_free_and_restores_fields(TapMode mode)
    {
        using var scope = torch.NewDisposeScope();
        using var model = new TwoStageToy(4, 1, CallStyle.Call);
        var originalNeck = model.NeckField;
        var neckTap = new FeatureTap(model, "neck", mode);
        var headTap = new FeatureTap(model, "roi_head", mode);
        model.call(Images());
        neckTap.HasCapture.Should().BeTrue();

        neckTap.Dispose();
        headTap.Dispose();
        model.call(Images());

        neckTap.HasCapture.Should().BeFalse();
        headTap.HasCapture.Should().BeFalse();
        ReferenceEquals(model.NeckField, originalNeck).Should().BeTrue();
        model.modules().Sum(HookInspection.HookCount).Should().Be(0);
        var read = () => neckTap.Features;
        read.Should().Throw<ObjectDisposedException>();
    }

    [Theory]
    [InlineData(TapMode.Hook, CallStyle.Call)]
    [InlineData(TapMode.Wrapper, CallStyle.Forward)]
    public void Disposing_one_stage_taps_leaves_the_model_hook_free_and_restores_fields(TapMode mode, CallStyle style)
    {
        using var scope = torch.NewDisposeScope();
        using var model = new OneStageToy(4, style);
        var originalNeck = model.NeckField;
        var tap = new FeatureTap(model, "neck", mode);
        model.call(Images());

        tap.Dispose();
        model.call(Images());

        tap.HasCapture.Should().BeFalse();
        ReferenceEquals(model.NeckField, originalNeck).Should().BeTrue();
        model.modules().Sum(HookInspection.HookCount).Should().Be(0);
    }

    [Fact]
    public void Two_taps_on_one_field_share_one_wrapper_both_record_and_unwind_in_any_order()
    {
        using var scope = torch.NewDisposeScope();
        using var model = new TwoStageToy(4, 1, CallStyle.Forward);
        var originalNeck = model.NeckField;
        var first = new FeatureTap(model, "neck", TapMode.Wrapper);
        var second = new FeatureTap(model, "neck", TapMode.Wrapper);

        model.call(Images());
        TensorIdentity.SameTensor(first.Features[0], second.Features[0]).Should().BeTrue();

        first.Dispose();
        model.call(Images());
        second.HasCapture.Should().BeTrue();
        second.Dispose();

        ReferenceEquals(model.NeckField, originalNeck).Should().BeTrue();
        model.call(Images());
        first.HasCapture.Should().BeFalse();
        second.HasCapture.Should().BeFalse();
    }

    [Fact]
    public void Clear_forgets_the_capture()
    {
        using var scope = torch.NewDisposeScope();
        using var model = new TwoStageToy(4, 1);
        using var tap = new FeatureTap(model, "neck");
        model.call(Images());

        tap.Clear();

        tap.HasCapture.Should().BeFalse();
    }

    private sealed class ConcreteFieldToy : nn.Module<Tensor, Tensor>
    {
        private readonly ToyFpn neck = new(2, 2);

        public ConcreteFieldToy()
            : base(nameof(ConcreteFieldToy))
            => RegisterComponents();

        public ToyFpn NeckModule => neck;

        public override Tensor forward(Tensor input) => neck.forward([input, input])[0];
    }
}
