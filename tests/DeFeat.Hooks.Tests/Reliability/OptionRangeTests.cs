using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.Interception;
using DeFeat.Hooks.Recording;
using DeFeat.Hooks.RoiHeads;
using DeFeat.Hooks.Terms;
using DeFeat.Hooks.Tests.Support;
using DeFeat.Hooks.Tests.Toys;
using DeFeat.Losses.Adaptation;
using DeFeat.Losses.Dense;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Reliability;

/// <summary>
/// Option values outside their documented ranges (strides, weights, channel counts, enum values) are refused when the
/// term or distiller is made, naming the option as the user spells it, the index and the value; counts that must agree
/// are compared as soon as both are known.
/// </summary>
public sealed class OptionRangeTests : IDisposable
{
    private readonly DisposeScope scope = torch.NewDisposeScope();
    private readonly TwoStageToy teacher = new(8, seed: 1);
    private readonly TwoStageToy student = new(4, seed: 2);

    public void Dispose()
    {
        teacher.Dispose();
        student.Dispose();
        scope.Dispose();
    }

    private static ProposalKdTermOptions Heads() => new() { TeacherHeadPath = "roi_head", StudentHeadPath = "roi_head", Arguments = new RoiHeadArgumentPositions(1, 2) };

    private void ModelsShouldBeUntouched()
    {
        (teacher.modules().Sum(HookInspection.HookCount) + student.modules().Sum(HookInspection.HookCount)).Should().Be(0);
        ReferenceEquals(teacher.NeckField, teacher.Neck).Should().BeTrue();
        teacher.training.Should().BeTrue("a refused distiller does not freeze the teacher");
    }

    public static TheoryData<double> BadStrides => new() { 0.0, -4.0, double.NaN, double.PositiveInfinity, double.NegativeInfinity };

    [Theory]
    [MemberData(nameof(BadStrides))]
    public void A_bad_stride_of_a_feature_term_is_named_with_its_index_and_value(double stride)
    {
        var create = () => new FeatureTerm(new() { Name = "neck", TeacherPath = "neck", StudentPath = "neck", Loss = new DecoupledFeatureTermLoss(), Strides = [4, stride] });

        create.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("options.Strides[1]")
            .WithMessage("options.Strides[1] must be a finite number > 0; got *").Which.ActualValue.Should().Be(stride);
    }

    [Theory]
    [MemberData(nameof(BadStrides))]
    public void A_bad_stride_of_a_dense_head_term_is_named_with_its_index_and_value(double stride)
    {
        var create = () => new DenseHeadKdTerm(new()
        {
            TeacherHeadPath = "cls_head",
            StudentHeadPath = "cls_head",
            Loss = new DecoupledDenseKdLossOptions { Classes = 3 },
            Strides = [stride, 4],
        });

        create.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("options.Strides[0]").Which.ActualValue.Should().Be(stride);
    }

    [Theory]
    [MemberData(nameof(BadStrides))]
    public void A_bad_stride_of_the_preset_is_refused_before_anything_is_attached(double stride)
    {
        var create = () => DeFeatRecipe.Create(teacher, student, new DeFeatRecipeOptions { TeacherNeckPath = "neck", StudentNeckPath = "neck", Strides = [4, 8, stride] });

        create.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("options.Strides[2]").Which.ActualValue.Should().Be(stride);
        ModelsShouldBeUntouched();
    }

    [Fact]
    public void An_empty_stride_list_is_refused()
    {
        var create = () => new FeatureTerm(new() { Name = "neck", TeacherPath = "neck", StudentPath = "neck", Loss = new DecoupledFeatureTermLoss(), Strides = [] });

        create.Should().Throw<ArgumentException>().WithParameterName("options.Strides").WithMessage("options.Strides must list one stride per level*got an empty list*");
    }

    [Fact]
    public void Strides_for_another_number_of_levels_than_recorded_are_named_instead_of_the_mask_builders_argument()
    {
        using var distiller = DeFeatRecipe.Create(teacher, student, new DeFeatRecipeOptions { TeacherNeckPath = "neck", StudentNeckPath = "neck", Strides = [2, 4, 8] });
        var images = torch.randn(2, 3, 16, 16);
        distiller.Teacher.Run(() => teacher.call(images));
        student.call(images);

        var call = () => distiller.call([torch.zeros(0, 4), torch.zeros(0, 4)], new ImageSize(16, 16));

        call.Should().Throw<ArgumentException>().WithParameterName("options.Strides")
            .WithMessage("options.Strides has 3 stride(s), but the tapped module returned 2 level(s) this step*");
    }

    [Fact]
    public void Levels_strides_and_adaptation_layers_of_different_level_counts_are_refused_naming_each()
    {
        var create = () => new FeatureTerm(new()
        {
            Name = "neck",
            TeacherPath = "neck",
            StudentPath = "neck",
            Loss = new DecoupledFeatureTermLoss(),
            Levels = [0, 1],
            Strides = [4],
            StudentChannels = [8, 8, 8], TeacherChannels = [16, 16, 16],
        });

        create.Should().Throw<ArgumentException>().WithParameterName("options")
            .WithMessage("options.Levels has 2, options.Strides has 1, options.StudentChannels has 3, options.TeacherChannels has 3 level(s)*");
    }

    [Fact]
    public void Adaptation_layers_for_another_number_of_levels_than_the_tap_returns_are_named()
    {
        using var distiller = new Distiller(teacher, student,
            [new FeatureTerm(new() { Name = "neck", TeacherPath = "neck", StudentPath = "neck", Loss = new DecoupledFeatureTermLoss(), StudentChannels = [8], TeacherChannels = [16] })]);
        var images = torch.randn(2, 3, 16, 16);
        distiller.Teacher.Run(() => teacher.call(images));
        student.call(images);

        var call = () => distiller.call([torch.zeros(0, 4), torch.zeros(0, 4)], new ImageSize(16, 16));

        call.Should().Throw<ArgumentException>().WithMessage("options.StudentChannels has 1 level(s), but the student's 'neck' tap (FeatureTermOptions.StudentPath 'neck') returned 2 map(s)*");
    }

    [Theory]
    [InlineData(new long[] { 8, 0 }, new long[] { 16, 16 }, "options.StudentChannels[1]")]
    [InlineData(new long[] { 8, 8 }, new long[] { 16, -16 }, "options.TeacherChannels[1]")]
    public void A_channel_count_below_one_is_named_as_the_presets_option(long[] studentChannels, long[] teacherChannels, string option)
    {
        var create = () => DeFeatRecipe.Create(teacher, student, new DeFeatRecipeOptions
        {
            TeacherNeckPath = "neck",
            StudentNeckPath = "neck",
            StudentChannels = studentChannels,
            TeacherChannels = teacherChannels,
        });

        create.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(option);
        ModelsShouldBeUntouched();
    }

    [Fact]
    public void Channel_and_stride_lists_of_different_lengths_are_refused_naming_each()
    {
        var create = () => DeFeatRecipe.Create(teacher, student, new DeFeatRecipeOptions
        {
            TeacherNeckPath = "neck",
            StudentNeckPath = "neck",
            StudentChannels = [8, 8],
            TeacherChannels = [16, 16],
            Strides = [2, 4, 8],
        });

        create.Should().Throw<ArgumentException>().WithParameterName("options")
            .WithMessage("options.StudentChannels has 2 level(s), options.TeacherChannels 2 and options.Strides 3*");
        ModelsShouldBeUntouched();
    }

    [Theory]
    [InlineData(-0.5)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void A_term_weight_outside_its_range_is_named_as_options_Weight(double weight)
    {
        var feature = () => new FeatureTerm(new() { Name = "neck", TeacherPath = "neck", StudentPath = "neck", Loss = new DecoupledFeatureTermLoss(), Weight = weight });
        var roi = () => new ProposalKdTerm(Heads() with { Weight = weight });
        var dense = () => new DenseHeadKdTerm(new()
        {
            TeacherHeadPath = "cls_head",
            StudentHeadPath = "cls_head",
            Loss = new DecoupledDenseKdLossOptions { Classes = 3 },
            Weight = weight,
        });

        foreach (var create in new Func<DistillationTerm>[] { feature, roi, dense })
        {
            create.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("options.Weight").Which.ActualValue.Should().Be(weight);
        }
    }

    [Fact]
    public void An_undefined_tap_mode_is_named_as_the_setting_that_holds_it()
    {
        var fromSettings = () => new Distiller(
            teacher,
            student,
            [new FeatureTerm(new() { Name = "neck", TeacherPath = "neck", StudentPath = "neck", Loss = new DecoupledFeatureTermLoss() })],
            new DistillerOptions { TeacherTapMode = (TapMode)9 });
        var fromOptions = () => DeFeatRecipe.Create(teacher, student, new DeFeatRecipeOptions { TeacherNeckPath = "neck", StudentNeckPath = "neck" }, new DistillerOptions { StudentTapMode = (TapMode)9 });
        var tap = () => new FeatureTap(teacher, "neck", (TapMode)9);

        fromSettings.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("options.TeacherTapMode");
        fromOptions.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("distillerOptions.StudentTapMode");
        tap.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("mode");
        ModelsShouldBeUntouched();
    }

    [Fact]
    public void An_undefined_proposal_sampling_is_refused_instead_of_being_taken_as_the_students()
    {
        var create = () => DeFeatRecipe.Create(teacher, student, new DeFeatRecipeOptions
        {
            TeacherNeckPath = "neck",
            StudentNeckPath = "neck",
            ProposalKd = Heads() with { Sampling = (ProposalSampling)2 },
        });

        create.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("options.ProposalKd.Sampling");
        ModelsShouldBeUntouched();
    }

    [Fact]
    public void A_logits_position_beyond_the_heads_outputs_is_named_with_the_option_prefix()
    {
        using var distiller = DeFeatRecipe.Create(teacher, student, new DeFeatRecipeOptions
        {
            TeacherNeckPath = "neck",
            StudentNeckPath = "neck",
            StudentChannels = [8, 8],
            TeacherChannels = [16, 16],
            ProposalKd = Heads() with { LogitsOutput = 2 },
        });
        var images = torch.randn(2, 3, 16, 16);
        distiller.Teacher.Run(() => teacher.call(images));
        student.call(images);

        var call = () => distiller.call([torch.zeros(0, 4), torch.zeros(0, 4)], new ImageSize(16, 16));

        call.Should().Throw<ArgumentException>().WithParameterName("options.ProposalKd.LogitsOutput")
            .WithMessage("options.ProposalKd.LogitsOutput is 2, but the RoI head at 'roi_head' returned 2 tensor(s).*");
    }

    [Fact]
    public void A_proposal_relay_endpoint_without_a_model_is_named_as_such()
    {
        var attach = () => new ProposalRelay(new RoiHeadEndpoint(null!, "roi_head", new RoiHeadArgumentPositions(1, 2)), new RoiHeadEndpoint(student, "roi_head", new RoiHeadArgumentPositions(1, 2)));

        attach.Should().Throw<ArgumentNullException>().WithParameterName("source.Model");
    }
}
