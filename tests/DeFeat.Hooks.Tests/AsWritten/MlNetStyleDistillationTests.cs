using DeFeat.Hooks.Terms;
using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.Interception;
using DeFeat.Hooks.RoiHeads;
using DeFeat.Hooks.Recording;
using DeFeat.Hooks.Tests.Support;
using DeFeat.Hooks.Tests.Toys;
using DeFeat.Hooks.Tests.Toys.MlNetStyle;
using DeFeat.Tests.Shared;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.AsWritten;

/// <summary>
/// Detectors written the way ML.NET's TorchSharp models are (concrete field types, .forward(...) everywhere, a forward
/// that opens its own dispose scope), distilled with no edit of the models and the default options.
/// </summary>
public class MlNetStyleDistillationTests
{
    private const int Steps = 1000;
    private const int TeacherWidth = 8;
    private const int StudentWidth = 4;

    private static Tensor Images() => torch.randn(2, 3, 32, 32, generator: new Generator(7));

    private static Tensor[] GtBoxes() => [torch.tensor(new float[,] { { 2, 2, 14, 18 }, { 16, 8, 31, 30 } }), torch.tensor(new float[,] { { 4, 4, 28, 28 } })];

    /// <summary>The teacher's neck output through its registered modules, flattened into one tensor.</summary>
    private static Tensor TeacherFeatures(nn.Module teacher, Tensor images)
    {
        var modules = teacher.named_modules().ToDictionary(entry => entry.name, entry => entry.module);
        var levels = ((MlNetStyleFpn)modules["neck"]).forward(((MlNetStyleBackbone)modules["backbone"]).forward(images));
        return torch.cat([.. levels.Select(level => level.flatten())], 0);
    }

    private static bool BitIdentical(Tensor first, Tensor second) => first.shape.SequenceEqual(second.shape) && first.eq(second).all().item<bool>();

    private static DeFeatRecipeOptions Options(bool twoStage) => new()
    {
        TeacherNeckPath = "neck",
        StudentNeckPath = "neck",
        StudentChannels = [2 * StudentWidth, 2 * StudentWidth, 2 * StudentWidth],
        TeacherChannels = [2 * TeacherWidth, 2 * TeacherWidth, 2 * TeacherWidth],
        MaskBuilder = new Losses.Masks.DeFeatMaskBuilder { CanonicalSize = 56.0 * 32 / 800 },
        ProposalKd = twoStage
            ? new() { TeacherHeadPath = "roi_head", StudentHeadPath = "roi_head", Arguments = new RoiHeadArgumentPositions(1, 2) }
            : null,
    };

    private static (nn.Module Teacher, nn.Module Student, Func<Tensor, Tensor> TeacherForward, Func<Tensor, Tensor> StudentLoss) Models(bool twoStage)
    {
        if (twoStage)
        {
            var teacher = new MlNetStyleFasterRcnn(TeacherWidth, seed: 1);
            var student = new MlNetStyleFasterRcnn(StudentWidth, seed: 2);
            return (teacher, student, images => teacher.forward(images), images => student.forward(images));
        }

        var oneStageTeacher = new MlNetStyleRetinaNet(TeacherWidth);
        var oneStageStudent = new MlNetStyleRetinaNet(StudentWidth);
        return (oneStageTeacher, oneStageStudent, images => oneStageTeacher.forward(images).ClassScores[0], images => MlNetStyleRetinaNet.Loss(oneStageStudent.forward(images)));
    }

    /// <summary>
    /// One one-stage distillation step (teacher first, student detection loss + KD total, backward) on fresh copies of
    /// the models and of the distiller's adapters in <paramref name="dtype"/>; the student's and the adapters'
    /// gradients by name.
    /// </summary>
    private static Dictionary<string, Tensor> OneStepGradients(nn.Module teacher, nn.Module student, Distiller distiller, ScalarType dtype)
    {
        using var teacherCopy = new MlNetStyleRetinaNet(TeacherWidth);
        using var studentCopy = new MlNetStyleRetinaNet(StudentWidth);
        teacherCopy.load_state_dict(teacher.state_dict());
        studentCopy.load_state_dict(student.state_dict());
        teacherCopy.to(dtype);
        studentCopy.to(dtype);
        using var copy = DeFeatRecipe.Create(teacherCopy, studentCopy, Options(twoStage: false));
        copy.load_state_dict(distiller.state_dict());
        copy.to(dtype);
        var images = Images().to(dtype);
        copy.Teacher.Run(() => teacherCopy.forward(images).ClassScores[0]);
        var total = MlNetStyleRetinaNet.Loss(studentCopy.forward(images)) + copy.call(GtBoxes(), new ImageSize(32, 32)).Total;
        total.backward();
        return studentCopy.named_parameters().Select(item => ($"student.{item.name}", item.parameter))
            .Concat(copy.named_parameters().Select(item => ($"distiller.{item.name}", item.parameter)))
            .Where(item => item.parameter.grad is not null)
            .ToDictionary(item => item.Item1, item => item.parameter.grad!.clone());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_model_as_written_trains_a_thousand_steps_with_the_teacher_frozen_and_is_restored_exactly(bool twoStage)
    {
        using var setup = torch.NewDisposeScope();
        torch.manual_seed(11);
        var (teacher, student, teacherForward, studentLoss) = Models(twoStage);
        var images = Images();
        var gtBoxes = GtBoxes();
        var teacherBefore = ModelSnapshot.Of(teacher);
        var studentBefore = ModelSnapshot.Of(student);
        teacher.eval();
        Tensor teacherOutputBefore;
        using (torch.no_grad())
        {
            teacherOutputBefore = TeacherFeatures(teacher, images);
        }

        var teacherBuffersBefore = teacher.named_buffers().Select(buffer => buffer.buffer.clone()).ToArray();
        teacher.train();

        var distiller = DeFeatRecipe.Create(teacher, student, Options(twoStage));
        ModelSnapshot.Of(teacher).Differences(teacherBefore).Should().BeEmpty("the module tree and every registered module stay as they were");
        if (!twoStage)
        {
            // Correct, not only finite: one distillation step on float32 and float64 copies of both models and of the
            // adapters gives the same student and adapter gradients (the student's retina_cls is Conv2d(8, 9, 3×3)).
            // The two-stage toy's seeded sampler makes float32 RoIs, which its float64 copy's RoI head does not take.
            Float64GradientReference.ShouldMatch("one step of the one-stage toy distillation", dtype => OneStepGradients(teacher, student, distiller, dtype));
        }

        var optimizer = torch.optim.SGD(student.parameters().Concat(distiller.parameters()), 0.01);
        var studentNeck = student.named_modules().Single(entry => entry.name == "neck").module;
        var nonFinite = 0;

        void Step(bool checkGradients)
        {
            using var scope = torch.NewDisposeScope();
            distiller.Teacher.Run(() => teacherForward(images));
            var detectionLoss = studentLoss(images);
            var kd = distiller.call(gtBoxes, new ImageSize(32, 32));
            optimizer.zero_grad();
            var total = detectionLoss + kd.Total;
            total.backward();
            nonFinite += total.isfinite().item<bool>() && kd["neck_background"].item<float>() > 0 ? 0 : 1;
            if (checkGradients)
            {
                studentNeck.parameters().Should().OnlyContain(parameter => !ReferenceEquals(parameter.grad, null));
                studentNeck.parameters().Sum(parameter => parameter.grad!.abs().sum().item<float>()).Should().BeGreaterThan(0);
                distiller.parameters().Should().OnlyContain(parameter => !ReferenceEquals(parameter.grad, null) && parameter.grad!.abs().sum().item<float>() > 0);
                teacher.parameters().Should().OnlyContain(parameter => ReferenceEquals(parameter.grad, null) && !parameter.requires_grad);
            }

            optimizer.step();
        }

        Step(checkGradients: true);
        for (var step = 1; step < 10; step++)
        {
            Step(checkGradients: false);
        }

        var afterWarmUp = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (var step = 10; step < Steps; step++)
        {
            Step(checkGradients: false);
        }

        (DisposeScopeManager.Statistics.ThreadTotalLiveCount - afterWarmUp).Should().Be(0);
        nonFinite.Should().Be(0, "every step's loss is finite and the background part is recorded");
        distiller.Step.Should().Be(Steps);
        teacher.training.Should().BeFalse();
        teacher.named_buffers().Select(buffer => buffer.buffer).Zip(teacherBuffersBefore)
            .Should().OnlyContain(pair => BitIdentical(pair.First, pair.Second), "BatchNorm statistics do not change");
        using (torch.no_grad())
        {
            BitIdentical(TeacherFeatures(teacher, images), teacherOutputBefore).Should().BeTrue("the teacher's outputs are bit-identical");
        }

        distiller.Dispose();
        ModelSnapshot.Of(teacher).Differences(teacherBefore).Should().BeEmpty();
        ModelSnapshot.Of(student).Differences(studentBefore).Should().BeEmpty();
        new[] { teacher, student }.SelectMany(model => model.modules()).Sum(HookInspection.HookCount).Should().Be(0);
    }

    [Fact]
    public void A_tap_on_a_concretely_typed_field_records_forward_calls_through_a_stand_in_and_nothing_after_disposal()
    {
        using var scope = torch.NewDisposeScope();
        using var model = new MlNetStyleRetinaNet(4);
        var before = ModelSnapshot.Of(model);
        var tap = new FeatureTap(model, "neck");

        model.forward(Images());

        tap.Mode.Should().Be(TapMode.StandIn);
        tap.Features.Select(feature => feature.shape).Should().BeEquivalentTo(new[] { new long[] { 2, 8, 8, 8 }, [2, 8, 4, 4], [2, 8, 2, 2] });
        tap.Features.Should().OnlyContain(feature => feature.requires_grad, "the capture keeps the autograd graph");

        tap.Dispose();
        ModelSnapshot.Of(model).Differences(before).Should().BeEmpty();
        model.forward(Images());
        tap.HasCapture.Should().BeFalse();
    }

    [Fact]
    public void Captures_stay_valid_after_the_models_own_dispose_scope_closed()
    {
        using var scope = torch.NewDisposeScope();
        using var model = new MlNetStyleRetinaNet(4);
        using var tap = new FeatureTap(model, "neck");
        var images = Images();
        var liveBefore = DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        var outputs = model.forward(images);

        using (torch.NewDisposeScope())
        {
            tap.Features.Select(feature => feature.sum().item<float>()).Should().OnlyContain(value => float.IsFinite(value));
        }

        tap.Clear();
        outputs.ClassScores.Concat(outputs.BoxDeltas).Should().OnlyContain(output => output.IsInvalid == false);
        (DisposeScopeManager.Statistics.ThreadTotalLiveCount - liveBefore).Should().Be(6, "only the model's six outputs outlive its forward once the tap is cleared");
    }

    [Fact]
    public void Items_of_a_ModuleList_of_a_non_sealed_class_are_tapped_by_stand_ins()
    {
        using var scope = torch.NewDisposeScope();
        using var model = new MlNetStyleRetinaNet(4);
        var before = ModelSnapshot.Of(model);
        var tower = new FeatureTap(model, "bbox_head.cls_convs.1");
        var scale = new FeatureTap(model, "bbox_head.scales.2");

        model.forward(Images());

        (tower.Mode, scale.Mode).Should().Be((TapMode.StandIn, TapMode.StandIn));
        tower.Features.Should().ContainSingle().Which.shape.Should().Equal(2, 8, 2, 2); // the last level's call overwrote the earlier ones
        scale.Features.Should().ContainSingle().Which.shape.Should().Equal(2, 12, 2, 2);

        scale.Dispose();
        tower.Dispose();
        ModelSnapshot.Of(model).Differences(before).Should().BeEmpty();
    }

    [Fact]
    public void A_stand_in_follows_the_model_through_to_and_keeps_recording()
    {
        using var scope = torch.NewDisposeScope();
        using var model = new MlNetStyleRetinaNet(4);
        using var tap = new FeatureTap(model, "bbox_head.scales.0");

        model.to(ScalarType.Float64);
        model.forward(Images().to(ScalarType.Float64));

        tap.Features[0].dtype.Should().Be(ScalarType.Float64);
        var scaleModule = (Scale)model.named_modules().Single(entry => entry.name == "bbox_head.scales.0").module;
        scaleModule.Factor.dtype.Should().Be(ScalarType.Float64);
    }

    [Fact]
    public void A_sealed_leaf_invoked_with_forward_gets_a_hook_whose_first_read_names_the_one_line_fix()
    {
        using var scope = torch.NewDisposeScope();
        using var model = new MlNetStyleRetinaNet(4);
        var before = ModelSnapshot.Of(model);
        var field = new FeatureTap(model, "bbox_head.retina_cls");
        var item = new FeatureTap(model, "neck.lateral_convs.0");

        model.forward(Images());

        (field.Mode, item.Mode).Should().Be((TapMode.Hook, TapMode.Hook));
        FluentActions.Invoking(() => field.Features).Should().Throw<InvalidOperationException>().WithMessage(
            "The feature tap at path 'bbox_head.retina_cls'*The field 'retina_cls' of MlNetStyleRetinaHead is declared as Conv2d*sealed*"
            + "if MlNetStyleRetinaHead invokes it with .forward(...)*declare the field 'retina_cls' as nn.Module<Tensor, Tensor>*"
            + ".call(...) instead of .forward(...) in MlNetStyleRetinaHead*");
        FluentActions.Invoking(() => item.Features).Should().Throw<InvalidOperationException>().WithMessage(
            "The feature tap at path 'neck.lateral_convs.0'*ModuleList<Conv2d> are declared as Conv2d*if MlNetStyleFpn invokes it with .forward(...)*"
            + "nn.Module<Tensor, Tensor>*.call(...) instead of .forward(...) in MlNetStyleFpn*");
        field.Dispose();
        item.Dispose();
        ModelSnapshot.Of(model).Differences(before).Should().BeEmpty();
        model.modules().Sum(HookInspection.HookCount).Should().Be(0);
    }

    [Fact]
    public void Explicit_wrapper_mode_on_a_concrete_field_names_the_type_in_csharp_and_the_option_that_works()
    {
        using var model = new MlNetStyleRetinaNet(4);

        var attach = () => new FeatureTap(model, "neck", TapMode.Wrapper);

        attach.Should().Throw<ArgumentException>().WithMessage(
            "*the field 'neck' of MlNetStyleRetinaNet is declared as MlNetStyleFpn*nn.Module<List<Tensor>, List<Tensor>>*TapMode.Auto*stand-in*");
    }

    [Fact]
    public void Distiller_errors_name_the_option_and_the_model_and_leave_both_models_untouched()
    {
        using var teacher = new MlNetStyleFasterRcnn(TeacherWidth, seed: 1);
        using var student = new MlNetStyleFasterRcnn(StudentWidth, seed: 2);
        var (teacherBefore, studentBefore) = (ModelSnapshot.Of(teacher), ModelSnapshot.Of(student));

        var teacherPath = () => DeFeatRecipe.Create(teacher, student, Options(twoStage: true) with { TeacherNeckPath = "nek" });
        var studentHead = () => DeFeatRecipe.Create(teacher, student, Options(twoStage: true) with
        {
            ProposalKd = Options(twoStage: true).ProposalKd! with { StudentHeadPath = "roi_heads" },
        });
        var sameModel = () => DeFeatRecipe.Create(teacher, teacher, Options(twoStage: true));

        teacherPath.Should().Throw<ArgumentException>().WithMessage("options.TeacherNeckPath 'nek' (teacher) names no submodule of MlNetStyleFasterRcnn*'neck'*")
            .Which.ParamName.Should().Be("options.TeacherNeckPath");
        studentHead.Should().Throw<ArgumentException>().WithMessage("options.ProposalKd.StudentHeadPath 'roi_heads' (student)*'roi_head'*");
        sameModel.Should().Throw<ArgumentException>().WithMessage("*same MlNetStyleFasterRcnn instance*");
        teacher.training.Should().BeTrue("a constructor that throws does not freeze the teacher");
        teacher.parameters().Should().OnlyContain(parameter => parameter.requires_grad);
        ModelSnapshot.Of(teacher).Differences(teacherBefore).Should().BeEmpty();
        ModelSnapshot.Of(student).Differences(studentBefore).Should().BeEmpty();
        new nn.Module[] { teacher, student }.SelectMany(model => model.modules()).Sum(HookInspection.HookCount).Should().Be(0);
    }
}
