using DeFeat.Hooks.Terms;
using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.Interception;
using DeFeat.Hooks.Recording;
using DeFeat.Hooks.RoiHeads;
using DeFeat.Hooks.Teacher;
using DeFeat.Hooks.Tests.Support;
using DeFeat.Hooks.Tests.Toys;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Reliability;

/// <summary>
/// An explicit <see cref="TapMode.Hook"/> on a submodule that its parent invokes only with <c>forward(...)</c> (which
/// TorchSharp runs without hooks) is attached as asked; its first empty read names the fix (TapMode.Auto where a
/// substitute fits, else the one-line model change), and disposing leaves the model as it was.
/// </summary>
public sealed class HookOnForwardCallTests : IDisposable
{
    private readonly DisposeScope scope = torch.NewDisposeScope();

    public void Dispose() => scope.Dispose();

    [Fact]
    public void A_hook_tap_on_a_child_its_parent_calls_with_forward_records_nothing_and_its_first_read_names_the_fix()
    {
        using var model = new ForwardParent();
        var before = ModelSnapshot.Of(model);
        var tap = new FeatureTap(model, "body", TapMode.Hook);

        model.call(torch.ones(2, 3));

        tap.Mode.Should().Be(TapMode.Hook);
        tap.HasCapture.Should().BeFalse();
        var read = () => tap.Features;
        read.Should().Throw<InvalidOperationException>().WithMessage(
            "The feature tap at path 'body' (TapMode.Hook) recorded nothing*.forward(...)*"
            + "If HookOnForwardCallTests.ForwardParent invokes it with .forward(...), the hook never records*"
            + "TapMode.Auto*wrapper in the field 'body' of HookOnForwardCallTests.ForwardParent*"
            + ".call(...) instead of .forward(...) in HookOnForwardCallTests.ForwardParent*");
        tap.Dispose();
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
    public void Where_no_substitute_fits_either_the_first_read_names_the_one_line_model_change()
    {
        using var model = new SealedFieldParent();
        var tap = new FeatureTap(model, "body", TapMode.Hook);

        model.call(torch.ones(2, 3));

        var read = () => tap.Features;
        read.Should().Throw<InvalidOperationException>().WithMessage(
            "The feature tap at path 'body' (TapMode.Hook) recorded nothing*The field 'body' of HookOnForwardCallTests.SealedFieldParent is "
            + "declared as HookOnForwardCallTests.SealedDoubler*is sealed, so neither a wrapper nor a stand-in fits*"
            + "declare the field 'body' as nn.Module<Tensor, Tensor>, or invoke it with .call(...)*");
        tap.Dispose();
        HookInspection.HookCount(model.Body).Should().Be(0);
    }

    [Fact]
    public void A_distiller_asked_for_hooks_on_such_a_child_names_the_option_and_the_fix_at_its_first_step_and_detaches_on_dispose()
    {
        using var teacher = new ForwardParent();
        using var student = new ForwardParent();
        var options = new DeFeatRecipeOptions { TeacherNeckPath = "body", StudentNeckPath = "body" };
        var distiller = DeFeatRecipe.Create(teacher, student, options, new DistillerOptions { StudentTapMode = TapMode.Hook });
        var images = torch.ones(2, 3, 16, 16);
        distiller.Teacher.Run(() => teacher.call(images));
        student.call(images);

        Tensor[] gtBoxes = [torch.tensor(new float[,] { { 1, 2, 9, 11 } }), torch.zeros(0, 4)];

        var compute = () => distiller.call(gtBoxes, new ImageSize(16, 16));

        compute.Should().Throw<InvalidOperationException>()
            .WithMessage("The feature tap at options.StudentNeckPath 'body' (student) (TapMode.Hook) recorded nothing*TapMode.Auto*");
        distiller.Dispose();
        (HookInspection.HookCount(teacher.Body) + HookInspection.HookCount(student.Body)).Should().Be(0);
        ReferenceEquals(teacher.BodyField, teacher.Body).Should().BeTrue("the teacher's wrapper was removed on dispose");
    }

    [Fact]
    public void A_proposal_relay_with_a_hook_on_such_a_head_delivers_nothing_and_Delivered_says_so()
    {
        using var teacher = new TwoStageToy(8, seed: 1, CallStyle.Forward);
        using var student = new TwoStageToy(4, seed: 2, CallStyle.Forward);
        var map = new RoiHeadArgumentPositions(1, 2);
        var relay = new ProposalRelay(new RoiHeadEndpoint(teacher, "roi_head", map), new RoiHeadEndpoint(student, "roi_head", map, TapMode.Hook));
        var images = torch.randn(2, 3, 16, 16);

        new FrozenTeacher(teacher).Run(() => teacher.call(images));
        student.call(images);

        relay.HasProposals.Should().BeTrue("the source head is recorded through a wrapper");
        relay.Delivered.Should().BeFalse("the student's parent invokes its head with .forward(...), which runs no pre-hook");
        TensorIdentity.SameTensor(student.RoiHead.LastRois, teacher.RoiHead.LastRois!).Should().BeFalse("the student head kept its own proposals");
        HookInspection.HookCount(student.RoiHead).Should().Be(1);
        relay.Dispose();
        HookInspection.HookCount(student.RoiHead).Should().Be(0);
        new nn.Module[] { teacher, student }.SelectMany(model => model.modules()).Sum(HookInspection.HookCount).Should().Be(0);
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
