using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.Terms;
using DeFeat.Hooks.Tests.Toys.MlNetStyle;
using DeFeat.Losses.Dense;
using DeFeat.Losses.Masks;
using DeFeat.Tests.Shared;
using TorchSharp;
using static DeFeat.Hooks.Tests.Support.NaiveTerms;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.AsWritten;

/// <summary>
/// The one-stage recipe on a RetinaNet head written the way ML.NET's AutoFormerV2 <c>RetinaHead</c> is (sigmoid
/// probabilities flattened per level to [B, H·W·A, K], and a variant that concatenates the levels), unmodified, through a
/// <see cref="Distiller"/> built from a <see cref="DenseHeadKdTerm"/>: the loss is the formula on the head's own
/// logit maps and straight from its probabilities (both written out a second, naive way), finite at probabilities of
/// exactly 0 and 1, with a gradient to the student; the default options fail at the first call naming what to set.
/// </summary>
public sealed class AutoFormerStyleDenseKdTests : IDisposable
{
    private const int TeacherWidth = 16;
    private const int StudentWidth = 8;
    private const int Classes = AutoFormerStyleRetinaNet.Classes;
    private const int Anchors = AutoFormerStyleRetinaNet.Anchors;

    /// <summary>2⁻²³, float32's machine epsilon, the documented clamp of probabilities.</summary>
    private static readonly double Float32Epsilon = Math.Pow(2, -23);

    private static readonly float[][,] Boxes = [new float[,] { { 2, 2, 14, 18 }, { 16, 8, 31, 30 } }, new float[,] { { 4, 4, 28, 28 } }];

    /// <summary>The levels of a 32×32 batch at strides 4, 8, 16.</summary>
    private static readonly (int Height, int Width)[] Sizes = [(8, 8), (4, 4), (2, 2)];

    private readonly DisposeScope scope = torch.NewDisposeScope();

    public void Dispose() => scope.Dispose();

    private static Tensor[] GtBoxes() => [.. Boxes.Select(image => torch.tensor(image))];

    private static Tensor Images() => torch.randn(2, 3, 32, 32, generator: new Generator(5));

    /// <summary>Every box marks every level (<see cref="AllLevelsMaskBuilder"/>): the masks, the naive way.</summary>
    private static double[][][,] Masks() => [.. Sizes.Select((size, level) => Mask(Boxes, size.Height, size.Width, 4 << level, _ => true))];

    private static DenseHeadKdTermOptions Options(bool concatenate, DenseKdActivation activation) => new()
    {
        TeacherHeadPath = "bbox_head",
        StudentHeadPath = "bbox_head",
        Layout = concatenate ? DenseScoreLayout.Concatenated : DenseScoreLayout.FlattenedPerLevel,
        ScoreKind = DenseScoreKind.Probabilities,
        Strides = [4, 8, 16],
        Loss = new DecoupledDenseKdLossOptions { Classes = Classes, AnchorsPerLocation = Anchors, Activation = activation, ObjectWeight = 2, BackgroundWeight = 0.5 },
        MaskBuilder = new AllLevelsMaskBuilder(),
    };

    /// <summary>One step: the teacher through the distiller, the student, the KD losses; the heads' scores as they returned them.</summary>
    private static (DistillationLosses Kd, List<Tensor> TeacherScores, List<Tensor> StudentScores) Step(
        AutoFormerStyleRetinaNet teacher, AutoFormerStyleRetinaNet student, Distiller distiller, Tensor images)
    {
        var teacherScores = distiller.Teacher.Run(() => teacher.forward(images)).ClassScores;
        var studentScores = student.forward(images).ClassScores;
        return (distiller.call(GtBoxes(), new ImageSize(32, 32)), teacherScores, studentScores);
    }

    [Theory]
    [InlineData(false, DenseKdActivation.Sigmoid)]
    [InlineData(true, DenseKdActivation.Sigmoid)]
    [InlineData(false, DenseKdActivation.Softmax)]
    [InlineData(true, DenseKdActivation.Softmax)]
    public void The_head_as_written_is_distilled_like_its_logit_maps_and_the_student_gets_a_gradient(bool concatenate, DenseKdActivation activation)
    {
        using var teacher = new AutoFormerStyleRetinaNet(TeacherWidth, concatenate, activation);
        using var student = new AutoFormerStyleRetinaNet(StudentWidth, concatenate, activation);
        using var distiller = new Distiller(teacher, student, [new DenseHeadKdTerm(Options(concatenate, activation))]);
        var images = Images();

        var (kd, teacherScores, studentScores) = Step(teacher, student, distiller, images);

        long[][] shapes = concatenate ? [[2, 336, Classes]] : [[2, 256, Classes], [2, 64, Classes], [2, 16, Classes]];
        teacherScores.Select(score => score.shape).Should().BeEquivalentTo(shapes, options => options.WithStrictOrdering(), "the head returns its scores flattened");
        studentScores.Select(score => score.shape).Should().BeEquivalentTo(shapes, options => options.WithStrictOrdering());

        // The per-level-map logits path on the same numbers: the heads' logits [B, A·K, H_l, W_l] before the activation and
        // the flattening, through the formula written out on host arrays.
        List<Tensor> teacherLogits, studentLogits;
        using (torch.no_grad())
        {
            (teacherLogits, studentLogits) = (teacher.ClassLogits(images), student.ClassLogits(images));
        }

        var expected = activation == DenseKdActivation.Sigmoid
            ? SigmoidDenseKd(studentLogits, teacherLogits, Masks(), Anchors, Classes, 2, 0.5)
            : SoftmaxDenseKd(studentLogits, teacherLogits, Masks(), Anchors, Classes, 2, 0.5);
        expected.Object.Should().BeGreaterThan(0);
        expected.Background.Should().BeGreaterThan(0);
        Value(kd["dense_object"]).Should().BeApproximately(expected.Object, 1e-4 * expected.Object);
        Value(kd["dense_background"]).Should().BeApproximately(expected.Background, 1e-4 * expected.Background);
        kd.Levels.Select(level => level.Name).Should().Equal(
            "dense_object[0]", "dense_object[1]", "dense_object[2]", "dense_background[0]", "dense_background[1]", "dense_background[2]");
        kd.Levels.Take(3).Sum(level => Value(level.Value)).Should().BeApproximately(expected.Object, 1e-4 * expected.Object);

        // And straight from the probabilities the heads returned, in their own layout.
        var direct = FlattenedDenseKd(studentScores, teacherScores, Sizes, Masks(), Anchors, Classes, activation == DenseKdActivation.Softmax, Float32Epsilon, 2, 0.5);
        Value(kd["dense_object"]).Should().BeApproximately(direct.Object, 1e-4 * direct.Object);
        Value(kd["dense_background"]).Should().BeApproximately(direct.Background, 1e-4 * direct.Background);

        kd.Total.backward();
        var classConv = student.Head.ClassConv.weight!;
        TrainingChecks.GradientsShouldBeFinite("after the dense KD step", student.named_parameters());
        classConv.grad!.abs().sum().item<float>().Should().BeGreaterThan(0, "the KD reaches the student's classification conv through the sigmoid and the flattening");
        student.named_parameters().Where(item => item.name.StartsWith("backbone", StringComparison.Ordinal))
            .Select(item => item.parameter.grad).Should().Contain(grad => !ReferenceEquals(grad, null) && grad.abs().sum().item<float>() > 0, "and the student's backbone");
        teacher.parameters().Should().OnlyContain(parameter => ReferenceEquals(parameter.grad, null) && !parameter.requires_grad);
    }

    [Theory]
    [InlineData(false, DenseKdActivation.Sigmoid)]
    [InlineData(true, DenseKdActivation.Sigmoid)]
    [InlineData(false, DenseKdActivation.Softmax)]
    public void Probabilities_of_exactly_0_and_1_give_the_clamped_formula_a_finite_loss_and_a_finite_gradient(bool concatenate, DenseKdActivation activation)
    {
        using var teacher = new AutoFormerStyleRetinaNet(TeacherWidth, concatenate, activation);
        using var student = new AutoFormerStyleRetinaNet(StudentWidth, concatenate, activation);
        // Channel a·K + k is class k of anchor a. The teacher is sure of class 0 and rules out class 1 at every anchor; the
        // student, at anchor 0, rules out class 0 (the opposite of the teacher) and is sure of class 2, and at anchor 1 rules
        // out class 0; anchors 2 and 3 are left unsaturated (a saturated anchor passes no gradient, through a softmax least of
        // all). The sigmoid and softmax of ±100 and −200 are exactly 1 and 0 in float32.
        float[] Bias(Func<int, int, float> byAnchorAndClass) => [.. Enumerable.Range(0, Anchors * Classes).Select(channel => byAnchorAndClass(channel / Classes, channel % Classes))];
        using (torch.no_grad())
        {
            teacher.Head.ClassConv.bias!.copy_(torch.tensor(Bias((_, k) => k switch { 0 => 100, 1 => -200, _ => 0 })));
            student.Head.ClassConv.bias!.copy_(torch.tensor(Bias((a, k) => (a, k) switch { (0 or 1, 0) => -200, (0, 2) => 100, _ => 0 })));
        }

        using var distiller = new Distiller(teacher, student, [new DenseHeadKdTerm(Options(concatenate, activation))]);

        var (kd, teacherScores, studentScores) = Step(teacher, student, distiller, Images());

        foreach (var scores in new[] { teacherScores, studentScores })
        {
            scores.Should().OnlyContain(score => score.eq(0).any().item<bool>() && score.eq(1).any().item<bool>(), "the test needs exact 0 and 1");
        }

        TrainingChecks.LossesShouldBeFinite("with probabilities of exactly 0 and 1", [.. kd.Parts.Select(part => (part.Name, part.Value))]);
        var expected = FlattenedDenseKd(studentScores, teacherScores, Sizes, Masks(), Anchors, Classes, activation == DenseKdActivation.Softmax, Float32Epsilon, 2, 0.5);
        Value(kd["dense_object"]).Should().BeApproximately(expected.Object, 1e-4 * expected.Object);
        Value(kd["dense_background"]).Should().BeApproximately(expected.Background, 1e-4 * expected.Background);

        kd.Total.backward();
        TrainingChecks.GradientsShouldBeFinite("with probabilities of exactly 0 and 1", student.named_parameters());
        student.Head.ClassConv.weight!.grad!.abs().sum().item<float>().Should().BeGreaterThan(0, "the anchors that are not saturated still pass a gradient");
    }

    [Fact]
    public void With_the_default_options_the_first_call_names_options_Layout_the_layout_the_shapes_suggest_and_ScoreKind()
    {
        using var teacher = new AutoFormerStyleRetinaNet(TeacherWidth);
        using var student = new AutoFormerStyleRetinaNet(StudentWidth);
        using var distiller = new Distiller(teacher, student,
        [
            new DenseHeadKdTerm(new() { TeacherHeadPath = "bbox_head", StudentHeadPath = "bbox_head", Loss = new DecoupledDenseKdLossOptions { Classes = Classes, AnchorsPerLocation = Anchors } }),
        ]);

        var call = () => Step(teacher, student, distiller, Images());

        call.Should().Throw<ArgumentException>().WithParameterName("options.Layout").WithMessage(
            "options.Layout is PerLevelMaps (one [B, A·K, H_l, W_l] map per level), but the teacher's dense head ('bbox_head') returned "
            + "[2, 256, 4], [2, 64, 4], [2, 16, 4]. These shapes suggest Layout = DenseScoreLayout.FlattenedPerLevel*options.Strides*"
            + "Every value lies in [0, 1]*options.ScoreKind = DenseScoreKind.Probabilities*");
    }

    [Theory]
    [InlineData(true, DenseScoreLayout.FlattenedPerLevel, "*returned [2, 336, 4]. This shape suggests Layout = DenseScoreLayout.Concatenated*")]
    [InlineData(false, DenseScoreLayout.Concatenated, "*returned [2, 256, 4], [2, 64, 4], [2, 16, 4]. These shapes suggest Layout = DenseScoreLayout.FlattenedPerLevel*")]
    public void A_flattened_layout_that_is_not_the_heads_names_the_one_that_is(bool concatenate, DenseScoreLayout layout, string message)
    {
        using var teacher = new AutoFormerStyleRetinaNet(TeacherWidth, concatenate);
        using var student = new AutoFormerStyleRetinaNet(StudentWidth, concatenate);
        using var distiller = new Distiller(teacher, student, [new DenseHeadKdTerm(Options(concatenate, DenseKdActivation.Sigmoid) with { Layout = layout })]);

        var call = () => Step(teacher, student, distiller, Images());

        call.Should().Throw<ArgumentException>().WithParameterName("options.Layout").WithMessage($"options.Layout is {layout} (*{message}")
            .Which.Message.Should().NotContain("ScoreKind", "the options already say probabilities");
    }

    [Theory]
    [InlineData(false, new double[] { 4, 4, 16 }, "Level 1 of the teacher's dense head ('bbox_head') holds 64 rows ([2, 64, 4]), but at options.Strides[1] = 4 the 32×32 batch (imageSize) has 8×8 cells, × A = 4 anchor(s) = 256 rows. 64 rows are what stride 8 gives (4×4 cells)*")]
    [InlineData(false, new double[] { 4, 8 }, "options.Strides lists 2 stride(s), but the teacher's dense head ('bbox_head') returned 3 level(s)*")]
    [InlineData(true, new double[] { 4, 8, 32 }, "The teacher's dense head ('bbox_head') holds 336 rows ([2, 336, 4]), but options.Strides [4, 8, 32] on the 32×32 batch (imageSize) give levels of 8×8, 4×4, 1×1 cells, × A = 4 anchor(s) = 256 + 64 + 4 = 324 rows*")]
    public void Strides_that_do_not_fit_the_rows_are_named_with_the_sizes_they_give(bool concatenate, double[] strides, string message)
    {
        using var teacher = new AutoFormerStyleRetinaNet(TeacherWidth, concatenate);
        using var student = new AutoFormerStyleRetinaNet(StudentWidth, concatenate);
        using var distiller = new Distiller(teacher, student, [new DenseHeadKdTerm(Options(concatenate, DenseKdActivation.Sigmoid) with { Strides = strides })]);

        var call = () => Step(teacher, student, distiller, Images());

        call.Should().Throw<ArgumentException>().WithParameterName("options.Strides").WithMessage(message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_flattened_layout_called_without_the_image_size_names_imageSize(bool concatenate)
    {
        using var teacher = new AutoFormerStyleRetinaNet(TeacherWidth, concatenate);
        using var student = new AutoFormerStyleRetinaNet(StudentWidth, concatenate);
        using var distiller = new Distiller(teacher, student, [new DenseHeadKdTerm(Options(concatenate, DenseKdActivation.Sigmoid))]);
        var images = Images();
        distiller.Teacher.Run(() => teacher.forward(images));
        student.forward(images);

        var call = () => distiller.call(GtBoxes());

        call.Should().Throw<ArgumentException>().WithParameterName("imageSize")
            .WithMessage("imageSize is missing, but the term 'dense' needs it: the level sizes of *Layout*come from it*");
        distiller.Step.Should().Be(0);
    }
}
