using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.Terms;
using DeFeat.Hooks.Tests.Toys;
using DeFeat.Losses.Dense;
using DeFeat.Losses.Masks;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Terms;

/// <summary>
/// How a <see cref="DenseHeadKdTerm"/> reads the layouts and score kinds of <see cref="DenseHeadKdTermOptions"/>: the
/// flattened layouts are the heads' permute-and-reshape undone exactly, probabilities become finite logits, and what
/// the options alone decide is refused at construction, naming the option.
/// </summary>
public sealed class DenseHeadLayoutTests : IDisposable
{
    private readonly DisposeScope scope = torch.NewDisposeScope();

    public void Dispose() => scope.Dispose();

    /// <summary>K = 3 classes, A = 2 anchors.</summary>
    private static DenseHeadKdTermOptions Options(DenseScoreLayout layout, IReadOnlyList<double>? strides, DenseScoreKind kind = DenseScoreKind.Logits, DenseKdActivation activation = DenseKdActivation.Sigmoid) => new()
    {
        TeacherHeadPath = "cls_head",
        StudentHeadPath = "cls_head",
        Layout = layout,
        ScoreKind = kind,
        Strides = strides,
        Loss = new DecoupledDenseKdLossOptions { Classes = 3, AnchorsPerLocation = 2, Activation = activation },
    };

    /// <summary>A [2, A·K = 6, H, W] map whose every value is distinct (its flat index).</summary>
    private static Tensor Map(int height, int width, int offset) => torch.arange(offset, offset + (2 * 6 * height * width), dtype: ScalarType.Float32).reshape(2, 6, height, width);

    /// <summary>The heads' flattening, written out element by element: row (h·W + w)·A + a, column k holds channel a·K + k of cell (h, w).</summary>
    private static Tensor Flatten(Tensor map)
    {
        var (batch, height, width) = ((int)map.shape[0], (int)map.shape[2], (int)map.shape[3]);
        var values = map.data<float>().ToArray();
        var rows = new float[batch * height * width * 2 * 3];
        for (var b = 0; b < batch; b++)
        {
            for (var h = 0; h < height; h++)
            {
                for (var w = 0; w < width; w++)
                {
                    for (var a = 0; a < 2; a++)
                    {
                        for (var k = 0; k < 3; k++)
                        {
                            var row = (((h * width) + w) * 2) + a;
                            rows[(((b * height * width * 2) + row) * 3) + k] = values[(((((b * 6) + (a * 3) + k) * height) + h) * width) + w];
                        }
                    }
                }
            }
        }

        return torch.tensor(rows).reshape(batch, height * width * 2, 3);
    }

    [Fact]
    public void Flattened_levels_are_read_back_as_the_maps_they_were_made_from()
    {
        // A 24×16 batch at strides 8 and 16: levels 3×2 and ⌈1.5⌉×1 = 2×1.
        Tensor[] maps = [Map(3, 2, 0), Map(2, 1, 1000)];

        var (read, sizes) = DenseHeadScores.Read([.. maps.Select(Flatten)], Options(DenseScoreLayout.FlattenedPerLevel, [8, 16]), () => new ImageSize(24, 16), "the head");

        sizes.Should().Equal(new FeatureMapSize(3, 2), new FeatureMapSize(2, 1));
        read.Zip(maps).Should().OnlyContain(pair => pair.First.shape.SequenceEqual(pair.Second.shape) && pair.First.eq(pair.Second).all().item<bool>());
    }

    [Fact]
    public void A_concatenated_tensor_is_split_by_the_strides_and_read_back_as_the_maps()
    {
        Tensor[] maps = [Map(3, 2, 0), Map(2, 1, 1000)];
        var concatenated = torch.cat([.. maps.Select(Flatten)], 1);

        var (read, sizes) = DenseHeadScores.Read([concatenated], Options(DenseScoreLayout.Concatenated, [8, 16]), () => new ImageSize(24, 16), "the head");

        concatenated.shape.Should().Equal(2, (3 * 2 * 2) + (2 * 1 * 2), 3);
        sizes.Should().Equal(new FeatureMapSize(3, 2), new FeatureMapSize(2, 1));
        read.Zip(maps).Should().OnlyContain(pair => pair.First.shape.SequenceEqual(pair.Second.shape) && pair.First.eq(pair.Second).all().item<bool>());
    }

    [Theory]
    [InlineData(ScalarType.Float32, 23)]
    [InlineData(ScalarType.Float16, 23)]
    [InlineData(ScalarType.Float64, 52)]
    public void Sigmoid_probabilities_become_logits_clamped_at_the_compute_dtypes_epsilon(ScalarType dtype, int epsilonBits)
    {
        var probabilities = torch.tensor(new[] { 0.0, 0.25, 0.5, 1.0, 0.75, 0.125 }).reshape(1, 6, 1, 1).to(dtype);

        var (read, _) = DenseHeadScores.Read([probabilities], Options(DenseScoreLayout.PerLevelMaps, null, DenseScoreKind.Probabilities), () => new ImageSize(8, 8), "the head");

        var epsilon = Math.Pow(2, -epsilonBits);
        var saturated = Math.Log((1 - epsilon) / epsilon);
        read[0].dtype.Should().Be(dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32);
        var logits = read[0].to(ScalarType.Float64).data<double>().ToArray();
        logits.Should().Equal(new[] { -saturated, Math.Log(1.0 / 3), 0, saturated, Math.Log(3), Math.Log(1.0 / 7) }, (actual, expected) => Math.Abs(actual - expected) <= 1e-5 * Math.Max(1, Math.Abs(expected)));
        saturated.Should().BeApproximately(epsilonBits == 23 ? 15.94 : 36.04, 0.01);
    }

    [Fact]
    public void Softmax_probabilities_become_their_logs_with_zero_clamped_to_epsilon()
    {
        var probabilities = torch.tensor(new[] { 0.0, 0.25, 0.75, 1.0, 0.0, 0.0 }).reshape(1, 6, 1, 1).to(ScalarType.Float32);

        var (read, _) = DenseHeadScores.Read(
            [probabilities], Options(DenseScoreLayout.PerLevelMaps, null, DenseScoreKind.Probabilities, DenseKdActivation.Softmax), () => new ImageSize(8, 8), "the head");

        read[0].to(ScalarType.Float64).data<double>().ToArray().Should().Equal(
            new[] { -23 * Math.Log(2), Math.Log(0.25), Math.Log(0.75), 0, -23 * Math.Log(2), -23 * Math.Log(2) },
            (actual, expected) => Math.Abs(actual - expected) <= 1e-5 * Math.Max(1, Math.Abs(expected)));
    }

    [Fact]
    public void What_the_options_alone_decide_is_refused_at_construction_naming_the_option()
    {
        var withoutStrides = () => new DenseHeadKdTerm(Options(DenseScoreLayout.FlattenedPerLevel, null));
        var concatenatedPerCall = () => new DenseHeadKdTerm(Options(DenseScoreLayout.Concatenated, [8, 16]) with { RecordEveryCall = true });
        var undefinedLayout = () => new DenseHeadKdTerm(Options((DenseScoreLayout)7, [8]));
        var undefinedKind = () => new DenseHeadKdTerm(Options(DenseScoreLayout.PerLevelMaps, null, (DenseScoreKind)2));
        var zeroStride = () => new DenseHeadKdTerm(Options(DenseScoreLayout.FlattenedPerLevel, [8, 0]));
        var noStride = () => new DenseHeadKdTerm(Options(DenseScoreLayout.Concatenated, []));

        withoutStrides.Should().Throw<ArgumentException>().WithParameterName("options.Strides")
            .WithMessage("options.Strides is required with options.Layout = FlattenedPerLevel (one [B, H_l·W_l·A, K] tensor per level)*H_l × W_l*⌈H / s_l⌉ × ⌈W / s_l⌉*");
        concatenatedPerCall.Should().Throw<ArgumentException>().WithParameterName("options.RecordEveryCall").WithMessage("*options.Layout = Concatenated one output holds every level*");
        undefinedLayout.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("options.Layout").WithMessage("options.Layout must be PerLevelMaps, FlattenedPerLevel or Concatenated; got 7.*");
        undefinedKind.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("options.ScoreKind").WithMessage("options.ScoreKind must be Logits or Probabilities; got 2.*");
        zeroStride.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("options.Strides[1]").WithMessage("options.Strides[1] must be a finite number > 0; got 0.*");
        noStride.Should().Throw<ArgumentException>().WithParameterName("options.Strides").WithMessage("options.Strides must list one stride per level, or be null to derive them from the image size; got an empty list.*");
    }

    [Fact]
    public void Maps_with_other_than_A_times_K_channels_name_options_Loss()
    {
        var read = () => DenseHeadScores.Read([torch.zeros(2, 9, 4, 4)], Options(DenseScoreLayout.PerLevelMaps, null), () => new ImageSize(16, 16), "the teacher's dense head ('cls_head')");

        read.Should().Throw<ArgumentException>().WithParameterName("options.Loss").WithMessage(
            "Level 0 of the teacher's dense head ('cls_head') has 9 channels ([2, 9, 4, 4]), but options.Loss gives A·K = AnchorsPerLocation·Classes = 2·3 = 6*");
    }

    [Fact]
    public void A_head_output_without_tensors_names_options_ScoresItem()
    {
        var read = () => DenseHeadScores.Read([], Options(DenseScoreLayout.PerLevelMaps, null) with { ScoresItem = 1 }, () => new ImageSize(16, 16), "the teacher's dense head ('cls_head')");

        read.Should().Throw<ArgumentException>().WithParameterName("options.ScoresItem")
            .WithMessage("The teacher's dense head ('cls_head') returned no tensor: options.ScoresItem (1) must name the item of its output that holds the class scores.*");
    }

    [Fact]
    public void A_head_called_once_per_level_without_RecordEveryCall_fails_with_the_fix_instead_of_distilling_its_last_call()
    {
        using var teacher = new OneStageToy(4);
        using var student = new OneStageToy(4);
        using var distiller = new Distiller(teacher, student,
        [
            new DenseHeadKdTerm(new()
            {
                TeacherHeadPath = "cls_head", StudentHeadPath = "cls_head", MaskBuilder = new AllLevelsMaskBuilder(),
                Loss = new DecoupledDenseKdLossOptions { Classes = 3 },
            }),
        ]);
        var images = torch.randn(2, 3, 16, 16, generator: new Generator(6));
        Tensor[] boxes = [torch.tensor(new float[,] { { 1, 2, 9, 11 } }), torch.zeros(0, 4)];
        distiller.Teacher.Run(() => teacher.call(images));
        student.call(images);

        var call = () => distiller.call(boxes, new ImageSize(16, 16));

        call.Should().Throw<InvalidOperationException>().WithMessage(
            "options.RecordEveryCall is false (term 'dense'), but the teacher's dense head ('cls_head') ran 2 times since the last distiller.call, "
            + "so only its last call would be distilled. If it runs once per level*set RecordEveryCall = true*distiller.Suspend()*");
    }
}
