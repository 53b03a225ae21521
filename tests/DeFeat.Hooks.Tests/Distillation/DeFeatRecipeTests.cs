using DeFeat.Hooks.Terms;
using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.Interception;
using DeFeat.Hooks.RoiHeads;
using DeFeat.Hooks.Schedules;
using DeFeat.Hooks.Tests.Support;
using DeFeat.Hooks.Tests.Toys;
using DeFeat.Losses.Features;
using DeFeat.Losses.Masks;
using DeFeat.Losses.Proposals;
using DeFeat.Tests.Shared;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Distillation;

public class DeFeatRecipeTests
{
    private static readonly ImageSize Size = new(16, 16);

    private static Tensor[] GtBoxes() =>
    [
        torch.tensor(new float[,] { { 1, 2, 9, 11 }, { 4, 4, 6, 7 } }),
        torch.zeros(0, 4),
    ];

    private static DistillerOptions Taps(TapMode mode) => new() { TeacherTapMode = mode, StudentTapMode = mode };

    private static DeFeatRecipeOptions TwoStageOptions(ProposalSampling sampling) => new()
    {
        TeacherNeckPath = "neck",
        StudentNeckPath = "neck",
        StudentChannels = [8, 8],
        TeacherChannels = [16, 16],
        Schedule = new LinearDecaySchedule(10),
        ProposalKd = new()
        {
            TeacherHeadPath = "roi_head",
            StudentHeadPath = "roi_head",
            Arguments = new RoiHeadArgumentPositions(1, 2),
            Sampling = sampling,
        },
    };

    [Theory]
    [InlineData(CallStyle.Call, TapMode.Hook, ProposalSampling.Teacher)]
    [InlineData(CallStyle.Forward, TapMode.Wrapper, ProposalSampling.Teacher)]
    [InlineData(CallStyle.Call, TapMode.Hook, ProposalSampling.Student)]
    public void Two_stage_losses_equal_the_loss_modules_called_by_hand(CallStyle style, TapMode mode, ProposalSampling sampling)
    {
        using var scope = torch.NewDisposeScope();
        using var teacher = new TwoStageToy(8, seed: 1, style);
        using var student = new TwoStageToy(4, seed: 2, style);
        using var distiller = DeFeatRecipe.Create(teacher, student, TwoStageOptions(sampling), Taps(mode));
        distiller.Step = 3;
        var images = torch.randn(2, 3, 16, 16);
        var gtBoxes = GtBoxes();

        if (sampling == ProposalSampling.Teacher)
        {
            distiller.Teacher.Run(() => teacher.call(images));
            student.call(images);
        }
        else
        {
            student.call(images);
            distiller.Teacher.Run(() => teacher.call(images));
        }

        var kd = distiller.call(gtBoxes, Size);

        // By hand: masks at the neck sizes 8×8 and 4×4 with strides 16/8 = 2 and 16/4 = 4, then the two loss modules.
        var masks = new DeFeatMaskBuilder().Build(gtBoxes, [new FeatureMapSize(8, 8), new FeatureMapSize(4, 4)], [2.0, 4.0]);
        var neck = new DecoupledFeatureLoss(adapters: ((FeatureTerm)distiller.Terms[0]).Adapters).call(student.Neck.LastOutput, teacher.Neck.LastOutput, masks);
        var sampler = sampling == ProposalSampling.Teacher ? teacher : student;
        var proposal = new DecoupledProposalKdLoss().call(student.RoiHead.LastLogits!, teacher.RoiHead.LastLogits!, sampler.RoiHead.LastLabels!);
        const double weight = 0.7; // linear decay 1 − 3/10

        kd.Weights.Should().Equal(new Dictionary<string, double> { ["neck"] = weight, ["proposal"] = weight });
        Value(kd["neck_object"]).Should().BeApproximately(weight * Value(neck.Object), 1e-6);
        Value(kd["neck_background"]).Should().BeApproximately(weight * Value(neck.Background), 1e-6);
        Value(kd["proposal_object"]).Should().BeApproximately(weight * Value(proposal.Object), 1e-6);
        Value(kd["proposal_background"]).Should().BeApproximately(weight * Value(proposal.Background), 1e-6);
        Value(kd.Total).Should().BeApproximately(weight * (Value(neck.Total) + Value(proposal.Total)), 1e-5);
        Value(neck.Object).Should().BeGreaterThan(0);
        Value(proposal.Total).Should().BeGreaterThan(0);
        distiller.Step.Should().Be(4);
        kd.ToDictionary().Keys.Should().Equal("neck_object", "neck_background", "proposal_object", "proposal_background");
    }

    [Theory]
    [InlineData(CallStyle.Call, TapMode.Hook)]
    [InlineData(CallStyle.Forward, TapMode.Wrapper)]
    public void One_stage_losses_equal_the_feature_loss_called_by_hand(CallStyle style, TapMode mode)
    {
        using var scope = torch.NewDisposeScope();
        using var teacher = new OneStageToy(4, style);
        using var student = new OneStageToy(4, style);
        using var distiller = DeFeatRecipe.Create(teacher, student, new DeFeatRecipeOptions
        {
            TeacherNeckPath = "neck",
            StudentNeckPath = "neck",
            FeatureLoss = DecoupledFeatureLossOptions.Voc,
            Strides = [2.0, 4.0],
        }, Taps(mode));
        var images = torch.randn(2, 3, 16, 16);
        var gtBoxes = GtBoxes();

        distiller.Teacher.Run(() => teacher.call(images));
        student.call(images);
        var kd = distiller.call(gtBoxes, Size);

        var (t1, t2) = teacher.Neck.LastOutput;
        var (s1, s2) = student.Neck.LastOutput;
        var masks = new DeFeatMaskBuilder().Build(gtBoxes, [new FeatureMapSize(8, 8), new FeatureMapSize(4, 4)], [2.0, 4.0]);
        var neck = new DecoupledFeatureLoss(DecoupledFeatureLossOptions.Voc).call([s1, s2], [t1, t2], masks);

        ((FeatureTerm)distiller.Terms[0]).Adapters.Should().BeNull();
        distiller.parameters().Should().BeEmpty();
        kd.Weights.Should().Equal(new Dictionary<string, double> { ["neck"] = 1.0 });
        Value(kd["neck_object"]).Should().BeApproximately(Value(neck.Object), 1e-6);
        Value(kd["neck_background"]).Should().BeApproximately(Value(neck.Background), 1e-6);
        Value(kd.Total).Should().BeApproximately(Value(neck.Total), 1e-6);
        kd.Contains("proposal_object").Should().BeFalse();
        kd.Contains("proposal_background").Should().BeFalse();
        kd.ToDictionary().Keys.Should().Equal("neck_object", "neck_background");
    }

    [Fact]
    public void The_image_size_is_needed_only_where_strides_are_derived_from_it()
    {
        using var scope = torch.NewDisposeScope();
        using var teacher = new OneStageToy(4);
        using var student = new OneStageToy(4);
        using var derived = DeFeatRecipe.Create(teacher, student, new DeFeatRecipeOptions { TeacherNeckPath = "neck", StudentNeckPath = "neck" });
        var images = torch.randn(2, 3, 16, 16);
        derived.Teacher.Run(() => teacher.call(images));
        student.call(images);

        var withoutSize = () => derived.call(GtBoxes());

        withoutSize.Should().Throw<ArgumentException>().WithParameterName("imageSize").WithMessage("imageSize is missing, but the term 'neck' needs it*Strides*");
        derived.Step.Should().Be(0);
        derived.Dispose();

        using var given = DeFeatRecipe.Create(teacher, student, new DeFeatRecipeOptions { TeacherNeckPath = "neck", StudentNeckPath = "neck", Strides = [2.0, 4.0] });
        given.Teacher.Run(() => teacher.call(images));
        student.call(images);
        var kd = given.call(GtBoxes());
        var masks = new DeFeatMaskBuilder().Build(GtBoxes(), [new FeatureMapSize(8, 8), new FeatureMapSize(4, 4)], [2.0, 4.0]);
        var ((t1, t2), (s1, s2)) = (teacher.Neck.LastOutput, student.Neck.LastOutput);
        var neck = new DecoupledFeatureLoss().call([s1, s2], [t1, t2], masks);

        Value(kd["neck_object"]).Should().BeApproximately(Value(neck.Object), 1e-6);
        Value(kd["neck_background"]).Should().BeApproximately(Value(neck.Background), 1e-6);
    }

    [Fact]
    public void Gradients_reach_the_student_and_the_adapters_but_not_the_teacher()
    {
        using var scope = torch.NewDisposeScope();
        using var teacher = new TwoStageToy(8, seed: 1);
        using var student = new TwoStageToy(4, seed: 2);
        using var distiller = DeFeatRecipe.Create(teacher, student, TwoStageOptions(ProposalSampling.Teacher), Taps(TapMode.Hook));
        var images = torch.randn(2, 3, 16, 16);

        distiller.Teacher.Run(() => teacher.call(images));
        student.call(images);
        distiller.call(GtBoxes(), Size).Total.backward();

        distiller.parameters().Should().HaveCount(4, "two adaptation convs, weight and bias each");
        distiller.parameters().Where(parameter => parameter.grad is null).Should().BeEmpty();
        student.Neck.parameters().Where(parameter => parameter.grad is null).Should().BeEmpty();
        student.RoiHead.parameters().Where(parameter => parameter.grad is null).Should().BeEmpty();
        teacher.parameters().Where(parameter => parameter.grad is not null).Should().BeEmpty();
        TrainingChecks.GradientsShouldBeFinite("after the KD backward", student.named_parameters().Concat(distiller.named_parameters()));
    }

    [Fact]
    public void Both_toys_fail_with_the_call_versus_forward_explanation_when_hooks_cannot_see_the_neck()
    {
        using var scope = torch.NewDisposeScope();
        var models = new (nn.Module<Tensor, Tensor> Teacher, nn.Module<Tensor, Tensor> Student)[]
        {
            (new TwoStageToy(4, 1, CallStyle.Forward), new TwoStageToy(4, 2, CallStyle.Forward)),
            (new OneStageToy(4, CallStyle.Forward), new OneStageToy(4, CallStyle.Forward)),
        };
        foreach (var (teacher, student) in models)
        {
            using var distiller = DeFeatRecipe.Create(teacher, student, new DeFeatRecipeOptions
            {
                TeacherNeckPath = "neck",
                StudentNeckPath = "neck",
            }, Taps(TapMode.Hook));
            var images = torch.randn(2, 3, 16, 16);
            distiller.Teacher.Run(() => teacher.call(images));
            student.call(images);

            var compute = () => distiller.call(GtBoxes(), Size);

            compute.Should().Throw<InvalidOperationException>().WithMessage("*.call(...)*.forward(...)*TapMode.Auto*");
            distiller.Step.Should().Be(0);
        }
    }

    [Fact]
    public void Disposing_the_distiller_leaves_both_toys_hook_free_with_their_fields_restored()
    {
        using var scope = torch.NewDisposeScope();
        using var teacher = new TwoStageToy(8, seed: 1, CallStyle.Forward);
        using var student = new TwoStageToy(4, seed: 2, CallStyle.Forward);
        using var oneStageTeacher = new OneStageToy(4);
        using var oneStageStudent = new OneStageToy(4);
        var (teacherNeck, studentNeck) = (teacher.NeckField, student.NeckField);

        DeFeatRecipe.Create(teacher, student, TwoStageOptions(ProposalSampling.Teacher), Taps(TapMode.Wrapper)).Dispose();
        DeFeatRecipe.Create(oneStageTeacher, oneStageStudent, new DeFeatRecipeOptions { TeacherNeckPath = "neck", StudentNeckPath = "neck" }).Dispose();

        ReferenceEquals(teacher.NeckField, teacherNeck).Should().BeTrue();
        ReferenceEquals(student.NeckField, studentNeck).Should().BeTrue();
        new nn.Module[] { teacher, student, oneStageTeacher, oneStageStudent }
            .SelectMany(model => model.modules()).Sum(HookInspection.HookCount).Should().Be(0);
    }

    [Fact]
    public void Bad_options_fail_at_construction_and_leave_no_hook_behind()
    {
        using var teacher = new TwoStageToy(8, seed: 1);
        using var student = new TwoStageToy(4, seed: 2);

        var badPath = () => DeFeatRecipe.Create(teacher, student, TwoStageOptions(ProposalSampling.Teacher) with
        {
            ProposalKd = TwoStageOptions(ProposalSampling.Teacher).ProposalKd! with { StudentHeadPath = "roi_heads" },
        }, Taps(TapMode.Hook));
        var oneChannelList = () => DeFeatRecipe.Create(teacher, student, new DeFeatRecipeOptions
        {
            TeacherNeckPath = "neck",
            StudentNeckPath = "neck",
            StudentChannels = [8, 8],
        });

        badPath.Should().Throw<ArgumentException>().WithMessage("*'roi_heads'*'roi_head'*");
        oneChannelList.Should().Throw<ArgumentException>().WithMessage("*StudentChannels*TeacherChannels*");
        new nn.Module[] { teacher, student }.SelectMany(model => model.modules()).Sum(HookInspection.HookCount).Should().Be(0);
    }

    private static double Value(Tensor scalar) => scalar.to(ScalarType.Float64).item<double>();
}
