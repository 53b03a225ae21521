using DeFeat.Hooks.Interception;
using DeFeat.Hooks.RoiHeads;
using DeFeat.Hooks.Teacher;
using DeFeat.Hooks.Tests.Support;
using DeFeat.Hooks.Tests.Toys;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.RoiHeads;

/// <summary>Proposals exist only in the two-stage toy (the one-stage toy has no RoI head).</summary>
public class ProposalRelayTests
{
    private static readonly RoiHeadArgumentPositions Arguments = new(roisArgument: 1, labelsArgument: 2);

    [Theory]
    [InlineData(CallStyle.Call, TapMode.Hook)]
    [InlineData(CallStyle.Forward, TapMode.Wrapper)]
    public void Teacher_sampled_proposals_reach_the_student_head_with_the_teachers_labels(CallStyle style, TapMode mode)
    {
        using var scope = torch.NewDisposeScope();
        using var teacher = new TwoStageToy(8, seed: 1, style);
        using var student = new TwoStageToy(4, seed: 2, style);
        var frozen = new FrozenTeacher(teacher);
        var relay = new ProposalRelay(new RoiHeadEndpoint(teacher, "roi_head", Arguments, mode), new RoiHeadEndpoint(student, "roi_head", Arguments, mode));
        var images = torch.randn(2, 3, 16, 16);

        frozen.Run(() => teacher.call(images));
        var (teacherRois, teacherLabels) = (teacher.RoiHead.LastRois!, teacher.RoiHead.LastLabels!);
        student.call(images);
        var studentLogits = student.RoiHead.LastLogits!;
        relay.Dispose();

        relay.HasProposals.Should().BeFalse();
        TensorIdentity.SameTensor(student.RoiHead.LastRois, teacherRois).Should().BeTrue();
        TensorIdentity.SameTensor(student.RoiHead.LastLabels, teacherLabels).Should().BeTrue();
        var direct = student.RoiHead.call(student.Neck.LastOutput, teacherRois, teacherLabels).Logits;
        studentLogits.allclose(direct, rtol: 0, atol: 0).Should().BeTrue();
        ModelsAreHookFree(teacher, student);
    }

    [Fact]
    public void The_relay_exposes_the_sampling_heads_labels_not_the_receivers()
    {
        using var scope = torch.NewDisposeScope();
        using var teacher = new TwoStageToy(8, seed: 1);
        using var student = new TwoStageToy(4, seed: 2);
        var frozen = new FrozenTeacher(teacher);
        using var relay = new ProposalRelay(new RoiHeadEndpoint(teacher, "roi_head", Arguments), new RoiHeadEndpoint(student, "roi_head", Arguments));
        var images = torch.randn(2, 3, 16, 16);
        var (_, studentOwnLabels) = new ToyProposalSampler(2, 6, TwoStageToy.Classes).Sample(2, 16, 16);

        frozen.Run(() => teacher.call(images));
        student.call(images);

        relay.Delivered.Should().BeTrue();
        var relayed = relay.Proposals.Labels.data<long>().ToArray();
        relayed.Should().Equal(teacher.RoiHead.LastLabels!.data<long>().ToArray());
        relayed.Should().NotEqual(studentOwnLabels.data<long>().ToArray(), "the student's own sampler would have labelled differently");
    }

    [Theory]
    [InlineData(CallStyle.Call, TapMode.Hook)]
    [InlineData(CallStyle.Forward, TapMode.Wrapper)]
    public void Student_sampled_proposals_rerun_the_teacher_head_on_the_students_rois(CallStyle style, TapMode mode)
    {
        using var scope = torch.NewDisposeScope();
        using var teacher = new TwoStageToy(8, seed: 1, style);
        using var student = new TwoStageToy(4, seed: 2, style);
        var frozen = new FrozenTeacher(teacher);
        using var relay = new ProposalRelay(new RoiHeadEndpoint(student, "roi_head", Arguments, mode), new RoiHeadEndpoint(teacher, "roi_head", Arguments, mode));
        var images = torch.randn(2, 3, 16, 16);

        student.call(images);
        var (studentRois, studentLabels) = (student.RoiHead.LastRois!, student.RoiHead.LastLabels!);
        frozen.Run(() => teacher.call(images));

        TensorIdentity.SameTensor(teacher.RoiHead.LastRois, studentRois).Should().BeTrue();
        TensorIdentity.SameTensor(relay.Proposals.Labels, studentLabels).Should().BeTrue();
        var teacherLogits = teacher.RoiHead.LastLogits!;
        relay.Dispose();
        var direct = frozen.Run(() => teacher.RoiHead.call(teacher.Neck.LastOutput, studentRois, studentLabels).Logits);
        teacherLogits.allclose(direct, rtol: 0, atol: 0).Should().BeTrue();
    }

    [Fact]
    public void Running_the_receiving_model_first_fails_with_an_explanation()
    {
        using var scope = torch.NewDisposeScope();
        using var teacher = new TwoStageToy(8, seed: 1);
        using var student = new TwoStageToy(4, seed: 2);
        using var relay = new ProposalRelay(new RoiHeadEndpoint(teacher, "roi_head", Arguments), new RoiHeadEndpoint(student, "roi_head", Arguments));

        var run = () => student.call(torch.randn(2, 3, 16, 16));

        run.Should().Throw<InvalidOperationException>().WithMessage("*'roi_head' has not run*teacher first*");
        var read = () => relay.Proposals;
        read.Should().Throw<InvalidOperationException>();
    }

    [Fact]
    public void A_wrong_head_path_lists_the_nearest_paths()
    {
        using var teacher = new TwoStageToy(8, seed: 1);
        using var student = new TwoStageToy(4, seed: 2);

        var attach = () => new ProposalRelay(new RoiHeadEndpoint(teacher, "roihead", Arguments), new RoiHeadEndpoint(student, "roi_head", Arguments));

        attach.Should().Throw<ArgumentException>().WithMessage("*'roihead'*'roi_head'*");
        ModelsAreHookFree(teacher, student);
    }

    [Fact]
    public void The_argument_adapter_checks_its_positions()
    {
        var same = () => new RoiHeadArgumentPositions(1, 1);
        same.Should().Throw<ArgumentException>();
        var read = () => Arguments.Read(["features", null]);
        read.Should().Throw<ArgumentException>().WithMessage("*argument 1 must be the RoIs tensor*");
    }

    private static void ModelsAreHookFree(params nn.Module[] models)
        => models.SelectMany(model => model.modules()).Sum(HookInspection.HookCount).Should().Be(0);
}
