using DeFeat.Hooks.Terms;
using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.RoiHeads;
using DeFeat.Hooks.Recording;
using DeFeat.Hooks.Schedules;
using DeFeat.Hooks.Tests.Toys;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Reliability;

/// <summary>Misuse that used to be silently wrong, or to fail with an error that did not say what to fix.</summary>
public sealed class DistillerMisuseTests : IDisposable
{
    private readonly DisposeScope scope = torch.NewDisposeScope();

    public void Dispose() => scope.Dispose();

    private static Tensor[] GtBoxes() => [torch.tensor(new float[,] { { 0, 0, 6, 8 } }), torch.tensor(new float[,] { { 4, 2, 16, 12 } })];

    /// <summary>One-stage toys on a non-square 16×24 batch (levels 8×12 and 4×6 at strides 2 and 4).</summary>
    private static (OneStageToy Teacher, OneStageToy Student, Distiller Distiller) OneStage(DeFeatRecipeOptions? options = null)
    {
        var teacher = new OneStageToy(4);
        var student = new OneStageToy(4);
        var distiller = DeFeatRecipe.Create(teacher, student, options ?? new DeFeatRecipeOptions { TeacherNeckPath = "neck", StudentNeckPath = "neck" });
        var images = torch.randn(2, 3, 16, 24);
        distiller.Teacher.Run(() => teacher.call(images));
        student.call(images);
        return (teacher, student, distiller);
    }

    [Fact]
    public void Swapped_height_and_width_or_the_original_image_size_fail_naming_imageSize()
    {
        var (teacher, student, swapped) = OneStage();
        var (_, _, original) = OneStage(new DeFeatRecipeOptions { TeacherNeckPath = "neck", StudentNeckPath = "neck", Strides = [2, 4] });

        var width = () => swapped.call(GtBoxes(), new ImageSize(24, 16));
        var unscaled = () => original.call(GtBoxes(), new ImageSize(160, 240));

        width.Should().Throw<ArgumentException>().WithParameterName("imageSize")
            .WithMessage("imageSize (height 24, width 16) does not fit the features: level 0 is 8×12 cells*stride of 3 from the height and 1.333 from the width*height first*");
        unscaled.Should().Throw<ArgumentException>().WithParameterName("imageSize").WithMessage("*level 0 is 8×12 cells, but 160×240 px at stride 2 gives 80×120*options.Strides*");
        var images = torch.randn(2, 3, 16, 24);
        swapped.Teacher.Run(() => teacher.call(images));
        student.call(images);
        swapped.call(GtBoxes(), new ImageSize(16, 24)).Total.isfinite().item<bool>().Should().BeTrue("the right size works in the next step");
    }

    [Fact]
    public void A_gt_box_list_of_another_length_than_the_batch_is_named()
    {
        var (_, _, distiller) = OneStage();

        var call = () => distiller.call([GtBoxes()[0]], new ImageSize(16, 24));

        call.Should().Throw<ArgumentException>().WithParameterName("gtBoxes").WithMessage("gtBoxes must hold one [N_i, 4] tensor per image of the batch the models saw (2 images); got 1.*");
    }

    [Fact]
    public void Gt_boxes_whose_scope_has_closed_are_named()
    {
        var (_, _, distiller) = OneStage();
        Tensor[] boxes;
        using (torch.NewDisposeScope())
        {
            boxes = GtBoxes();
        }

        var call = () => distiller.call(boxes, new ImageSize(16, 24));

        call.Should().Throw<ObjectDisposedException>().WithMessage("gtBoxes[0] is a disposed tensor*dispose scope*");
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(-0.5)]
    [InlineData(double.PositiveInfinity)]
    public void A_schedule_weight_that_is_not_finite_and_non_negative_is_refused(double weight)
    {
        var (_, _, distiller) = OneStage(new DeFeatRecipeOptions { TeacherNeckPath = "neck", StudentNeckPath = "neck", Schedule = new FixedSchedule(weight) });

        var call = () => distiller.call(GtBoxes(), new ImageSize(16, 24));

        call.Should().Throw<InvalidOperationException>().WithMessage($"FixedSchedule computed the distillation weight {weight} at step 0; a distillation weight must be a finite number >= 0*");
        distiller.Step.Should().Be(0);
    }

    [Fact]
    public void A_neck_path_that_names_a_module_of_another_rank_says_which_path()
    {
        using var teacher = new TwoStageToy(4, seed: 1);
        using var student = new TwoStageToy(4, seed: 2);
        using var distiller = DeFeatRecipe.Create(teacher, student, new DeFeatRecipeOptions { TeacherNeckPath = "roi_head", StudentNeckPath = "roi_head" });
        var images = torch.randn(2, 3, 16, 16);
        distiller.Teacher.Run(() => teacher.call(images));
        student.call(images);

        var call = () => distiller.call(GtBoxes(), new ImageSize(16, 16));

        call.Should().Throw<ArgumentException>().WithMessage("options.TeacherNeckPath 'roi_head' (teacher) returned 2 tensor(s) and tensor 0 has shape [12, 4]*Is 'roi_head' the neck?*");
    }

    [Fact]
    public void Calling_a_disposed_distiller_names_the_distiller()
    {
        var (_, _, distiller) = OneStage();
        distiller.Dispose();

        var call = () => distiller.call(GtBoxes(), new ImageSize(16, 24));

        call.Should().Throw<ObjectDisposedException>().WithMessage("*Distiller was disposed*");
    }

    [Fact]
    public void The_opt_in_finite_check_names_the_terms_the_level_and_whose_features()
    {
        var options = new DeFeatRecipeOptions { TeacherNeckPath = "neck", StudentNeckPath = "neck" };
        var teacher = new OneStageToy(4);
        var student = new OneStageToy(4);
        using (torch.no_grad())
        {
            // P1 = lateral1(C1) + up(P2): a NaN weight in lateral1 poisons the finest level only.
            student.named_parameters().Single(parameter => parameter.name == "neck.fpn.lateral1.weight").parameter.fill_(double.NaN);
        }

        using var checking = DeFeatRecipe.Create(teacher, student, options, new DistillerOptions { CheckFinite = true });
        var images = torch.randn(2, 3, 16, 24);
        checking.Teacher.Run(() => teacher.call(images));
        student.call(images);

        var call = () => checking.call(GtBoxes(), new ImageSize(16, 24));

        call.Should().Throw<InvalidOperationException>().WithMessage(
            "Distillation losses neck_object, neck_background are not finite*level 0 (of 2, finest first) of the student's neck output (options.StudentNeckPath 'neck')*CheckFinite*");
    }

    [Fact]
    public void An_output_selector_returning_null_is_reported_as_such()
    {
        using var model = new TwoStageToy(4, seed: 1);
        using var tap = new FeatureTap(model, "roi_head", selector: _ => null!);

        var run = () => model.call(torch.randn(2, 3, 16, 16));

        run.Should().Throw<InvalidOperationException>().WithMessage("The selector given for 'roi_head' returned null for its output ((Tensor, Tensor))*");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void An_adapter_whose_replace_returns_null_or_too_few_arguments_is_named(bool returnNull)
    {
        using var teacher = new TwoStageToy(4, seed: 1);
        using var student = new TwoStageToy(4, seed: 2);
        var good = new RoiHeadArgumentPositions(1, 2);
        using var relay = new ProposalRelay(
            new RoiHeadEndpoint(teacher, "roi_head", good),
            new RoiHeadEndpoint(student, "roi_head", new BrokenAdapter(good, returnNull)));
        var images = torch.randn(2, 3, 16, 16);
        teacher.call(images);

        var run = () => student.call(images);

        run.Should().Throw<InvalidOperationException>().WithMessage(
            $"BrokenAdapter.Replace returned {(returnNull ? "null" : "2 argument(s)")} for the RoI head 'roi_head', which takes 3*");
        relay.Delivered.Should().BeFalse();
    }

    private sealed class FixedSchedule(double weight) : WeightSchedule
    {
        protected override double Compute(long step) => weight;
    }

    private sealed class BrokenAdapter(IRoiHeadArgumentMap inner, bool returnNull) : IRoiHeadArgumentMap
    {
        public SampledProposals Read(IReadOnlyList<object?> arguments) => inner.Read(arguments);

        public object?[] Replace(IReadOnlyList<object?> arguments, SampledProposals proposals)
            => returnNull ? null! : [.. inner.Replace(arguments, proposals).Take(2)];
    }
}
