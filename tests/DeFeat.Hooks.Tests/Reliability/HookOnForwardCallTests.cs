using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.Recording;
using DeFeat.Hooks.RoiHeads;
using DeFeat.Hooks.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Reliability;

/// <summary>
/// An explicit <see cref="TapMode.Hook"/> on a submodule that its parent invokes only with <c>forward(...)</c> (which
/// TorchSharp runs without hooks) is refused when attached, with the fix, instead of recording nothing until the first read.
/// </summary>
public sealed class HookOnForwardCallTests : IDisposable
{
    private readonly DisposeScope scope = torch.NewDisposeScope();

    public void Dispose() => scope.Dispose();

    [Fact]
    public void A_hook_tap_on_a_child_its_parent_calls_with_forward_is_refused_with_the_fix_and_the_model_untouched()
    {
        using var model = new ForwardParent();
        var before = ModelSnapshot.Of(model);

        var attach = () => new FeatureTap(model, "body", TapMode.Hook);

        attach.Should().Throw<ArgumentException>().WithParameterName("path").WithMessage(
            "path 'body' cannot be recorded with TapMode.Hook: HookOnForwardCallTests.ForwardParent.forward invokes it with .forward(...)*"
            + "never record*TapMode.Auto*wrapper in the field 'body' of HookOnForwardCallTests.ForwardParent*"
            + ".call(...) instead of .forward(...) in HookOnForwardCallTests.ForwardParent.forward*");
        HookInspection.HookCount(model.Body).Should().Be(0);
        ModelSnapshot.Of(model).Differences(before).Should().BeEmpty();
    }

    [Fact]
    public void The_fix_the_message_names_records_the_same_child()
    {
        using var model = new ForwardParent();
        using var tap = new FeatureTap(model, "body", TapMode.Auto);
        var input = torch.ones(2, 3);

        model.call(input);

        tap.Mode.Should().Be(TapMode.Wrapper);
        tap.Features.Should().ContainSingle().Which.sum().item<float>().Should().Be(12f, "the child doubles a 2×3 tensor of ones");
    }

    [Fact]
    public void Where_no_substitute_fits_either_the_refusal_names_the_one_line_model_change()
    {
        using var model = new SealedFieldParent();

        var attach = () => new FeatureTap(model, "body", TapMode.Hook);

        attach.Should().Throw<ArgumentException>().WithParameterName("path").WithMessage(
            "path 'body' cannot be recorded: the field 'body' of HookOnForwardCallTests.SealedFieldParent is declared as "
            + "HookOnForwardCallTests.SealedDoubler*is sealed, so neither a wrapper nor a stand-in fits*"
            + "declare the field 'body' as nn.Module<Tensor, Tensor>, or invoke it with .call(...)*");
        HookInspection.HookCount(model.Body).Should().Be(0);
    }

    [Fact]
    public void A_distiller_asked_for_hooks_on_such_a_child_refuses_and_leaves_both_models_as_they_were()
    {
        using var teacher = new ForwardParent();
        using var student = new ForwardParent();
        var options = new DeFeatRecipeOptions { TeacherNeckPath = "body", StudentNeckPath = "body" };

        var create = () => DeFeatRecipe.Create(teacher, student, options, new DistillerOptions { StudentTapMode = TapMode.Hook });

        create.Should().Throw<ArgumentException>().WithParameterName("options.StudentNeckPath")
            .WithMessage("options.StudentNeckPath 'body' (student) cannot be recorded with TapMode.Hook*TapMode.Auto*");
        (HookInspection.HookCount(teacher.Body) + HookInspection.HookCount(student.Body)).Should().Be(0);
        ReferenceEquals(teacher.BodyField, teacher.Body).Should().BeTrue("the teacher's slot got no wrapper, or had it removed");
        teacher.training.Should().BeTrue("a refused distiller does not freeze the teacher");
        teacher.parameters().Should().OnlyContain(parameter => parameter.requires_grad);
    }

    [Fact]
    public void A_proposal_relay_asked_for_hooks_on_such_a_head_is_refused_and_detaches_its_source()
    {
        using var source = new ForwardParent();
        using var target = new ForwardParent();
        var map = new RoiHeadArgumentPositions(0, 1);

        var attach = () => new ProposalRelay(new RoiHeadEndpoint(source, "body", map), new RoiHeadEndpoint(target, "body", map, TapMode.Hook));

        attach.Should().Throw<ArgumentException>().WithParameterName("target.HeadPath")
            .WithMessage("target.HeadPath 'body' cannot be recorded with TapMode.Hook*");
        ReferenceEquals(source.BodyField, source.Body).Should().BeTrue("the source's wrapper was removed again");
        HookInspection.HookCount(target.Body).Should().Be(0);
    }

    /// <summary>Doubles its input (its scale, a parameter, starts at 2).</summary>
    private class Doubler : nn.Module<Tensor, Tensor>
    {
        private readonly TorchSharp.Modules.Parameter scale = nn.Parameter(torch.full(1, 2.0f));

        public Doubler()
            : base(nameof(Doubler))
            => RegisterComponents();

        public override Tensor forward(Tensor input) => input.mul(scale);
    }

    private sealed class SealedDoubler() : nn.Module<Tensor, Tensor>(nameof(SealedDoubler))
    {
        public override Tensor forward(Tensor input) => input.mul(2);
    }

    /// <summary>Holds its child in a field of the TorchSharp base type and invokes it with forward(...) only.</summary>
    private sealed class ForwardParent : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> body = new Doubler();

        public ForwardParent()
            : base(nameof(ForwardParent))
            => RegisterComponents();

        public nn.Module Body => named_children().Single(child => child.name == "body").module;

        public nn.Module BodyField => body;

        public override Tensor forward(Tensor input) => body.forward(input).sum();
    }

    /// <summary>Holds a sealed child in a field of its own class and invokes it with forward(...) only.</summary>
    private sealed class SealedFieldParent : nn.Module<Tensor, Tensor>
    {
        private readonly SealedDoubler body = new();

        public SealedFieldParent()
            : base(nameof(SealedFieldParent))
            => RegisterComponents();

        public nn.Module Body => body;

        public override Tensor forward(Tensor input) => body.forward(input).sum();
    }
}
