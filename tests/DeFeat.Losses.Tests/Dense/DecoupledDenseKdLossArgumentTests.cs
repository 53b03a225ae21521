using DeFeat.Losses.Dense;
using TorchSharp;
using static DeFeat.Losses.Tests.Masks.MaskTestData;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Dense;

public sealed class DecoupledDenseKdLossArgumentTests : IDisposable
{
    private static readonly Device Meta = new(DeviceType.META);

    private readonly DisposeScope scope = torch.NewDisposeScope();

    // A = 3 anchors per location, K = 4 classes: 12 channels.
    private readonly DecoupledDenseKdLoss loss = new(new DecoupledDenseKdLossOptions { Classes = 4, AnchorsPerLocation = 3 });

    public void Dispose()
    {
        loss.Dispose();
        scope.Dispose();
    }

    private static Tensor Scores(long batch, long channels, long height, long width, ScalarType dtype = ScalarType.Float32)
        => torch.zeros(batch, channels, height, width, dtype);

    private Action Call(IReadOnlyList<Tensor>? students, IReadOnlyList<Tensor>? teachers, IReadOnlyList<Tensor>? weights)
        => () => loss.call(students!, teachers!, weights!);

    [Fact]
    public void Null_lists_and_tensors_are_rejected()
    {
        Tensor[] s = [Scores(1, 12, 2, 2)], w = [torch.zeros(1, 2, 2)];
        Call(null, s, w).Should().Throw<ArgumentNullException>().WithParameterName("studentScores");
        Call(s, null, w).Should().Throw<ArgumentNullException>().WithParameterName("teacherScores");
        Call(s, s, null).Should().Throw<ArgumentNullException>().WithParameterName("objectWeights");
        Call(s, [null!], w).Should().Throw<ArgumentNullException>().WithParameterName("teacherScores[0]");
        FluentActions.Invoking(() => new DecoupledDenseKdLoss(null!)).Should().Throw<ArgumentNullException>().WithParameterName("options");
    }

    [Fact]
    public void Zero_levels_and_level_count_mismatches_are_rejected()
    {
        Tensor[] two = [Scores(1, 12, 2, 2), Scores(1, 12, 1, 1)];
        Tensor[] twoWeights = [torch.zeros(1, 2, 2), torch.zeros(1, 1, 1)];
        Call([], [], []).Should().Throw<ArgumentException>().WithParameterName("studentScores").WithMessage("*must not be empty*");
        Call(two, two.Take(1).ToArray(), twoWeights)
            .Should().Throw<ArgumentException>().WithParameterName("teacherScores").WithMessage("*2 score maps*got 1*");
        Call(two, two, twoWeights.Take(1).ToArray())
            .Should().Throw<ArgumentException>().WithParameterName("objectWeights").WithMessage("*2 weight maps*got 1*");
    }

    [Fact]
    public void A_channel_count_other_than_anchors_times_classes_names_both()
    {
        // E.g. a RetinaNet head (9 anchors) with AnchorsPerLocation left at 1, or the classes miscounted.
        Call([Scores(2, 4, 3, 3)], [Scores(2, 4, 3, 3)], [torch.zeros(2, 3, 3)])
            .Should().Throw<ArgumentException>().WithParameterName("studentScores[0]")
            .WithMessage("*A·K = 3·4 = 12 channels (AnchorsPerLocation · Classes)*got shape [2, 4, 3, 3]*");
    }

    [Theory]
    [InlineData(1, 12, 3, 3)]
    [InlineData(2, 12, 4, 3)]
    [InlineData(2, 12, 3, 2)]
    [InlineData(2, 8, 3, 3)]
    public void A_teacher_shape_other_than_the_students_is_rejected(long batch, long channels, long height, long width)
    {
        Call([Scores(2, 12, 3, 3)], [Scores(batch, channels, height, width)], [torch.zeros(2, 3, 3)])
            .Should().Throw<ArgumentException>().WithParameterName("teacherScores[0]")
            .WithMessage($"*[2, 12, 3, 3]*got [{batch}, {channels}, {height}, {width}]*");
    }

    [Theory]
    [InlineData(new long[] { 2, 3, 4 })]
    [InlineData(new long[] { 1, 3, 3 })]
    [InlineData(new long[] { 2, 1, 3, 3 })]
    [InlineData(new long[] { 2, 12, 3, 3 })]
    [InlineData(new long[] { 2, 3, 3, 3, 1 })]
    public void Weights_must_be_per_location_or_per_anchor(long[] shape)
    {
        Call([Scores(2, 12, 3, 3)], [Scores(2, 12, 3, 3)], [torch.zeros(shape)])
            .Should().Throw<ArgumentException>().WithParameterName("objectWeights[0]")
            .WithMessage($"*[2, 3, 3] (per location) or [2, 3, 3, 3] (per anchor)*got [{string.Join(", ", shape)}]*");
    }

    [Fact]
    public void Ranks_dtypes_and_devices_are_checked()
    {
        Tensor[] w = [torch.zeros(1, 2, 2)];
        Call([torch.zeros(12, 2, 2)], [Scores(1, 12, 2, 2)], w)
            .Should().Throw<ArgumentException>().WithParameterName("studentScores[0]").WithMessage("*[B, A·K, H, W] (4-D)*got shape [12, 2, 2]*");
        Call([Scores(1, 12, 2, 2, ScalarType.Int64)], [Scores(1, 12, 2, 2)], w)
            .Should().Throw<ArgumentException>().WithParameterName("studentScores[0]").WithMessage("*floating-point*Int64*");
        Call([Scores(1, 12, 2, 2)], [Scores(1, 12, 2, 2)], [torch.zeros(1, 2, 2, ScalarType.Bool)])
            .Should().Throw<ArgumentException>().WithParameterName("objectWeights[0]").WithMessage("*floating-point*Bool*");
        Call([Scores(1, 12, 2, 2)], [Scores(1, 12, 2, 2).to(Meta)], w)
            .Should().Throw<ArgumentException>().WithParameterName("teacherScores[0]").WithMessage("*device cpu*got meta*");
        Call([Scores(1, 12, 2, 2)], [Scores(1, 12, 2, 2)], [torch.zeros(1, 2, 2).to(Meta)])
            .Should().Throw<ArgumentException>().WithParameterName("objectWeights[0]").WithMessage("*device cpu*got meta*");
    }

    [Fact]
    public void A_disposed_loss_or_input_says_so()
    {
        var disposedInput = Scores(1, 12, 2, 2);
        disposedInput.Dispose();
        Call([disposedInput], [Scores(1, 12, 2, 2)], [torch.zeros(1, 2, 2)])
            .Should().Throw<ObjectDisposedException>().WithMessage("studentScores[0] is a disposed tensor*");

        var disposedLoss = new DecoupledDenseKdLoss(new DecoupledDenseKdLossOptions { Classes = 1 });
        disposedLoss.Dispose();
        FluentActions.Invoking(() => disposedLoss.call([Scores(1, 1, 2, 2)], [Scores(1, 1, 2, 2)], [torch.zeros(1, 2, 2)]))
            .Should().Throw<ObjectDisposedException>().WithMessage("*DecoupledDenseKdLoss was disposed*create a new one*");
    }

    [Fact]
    public void Softmax_over_a_single_class_is_rejected_when_the_loss_is_created()
    {
        FluentActions.Invoking(() => new DecoupledDenseKdLoss(new DecoupledDenseKdLossOptions { Classes = 1, Activation = DenseKdActivation.Softmax }))
            .Should().Throw<ArgumentException>().WithParameterName("options").WithMessage("options.Classes must be >= 2 with the Softmax activation*got 1*");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    public void Class_and_anchor_counts_below_one_are_rejected(int value)
    {
        ShouldRejectOption(() => new DecoupledDenseKdLossOptions { Classes = value }, "Classes", ">= 1", value);
        ShouldRejectOption(() => new DecoupledDenseKdLossOptions { Classes = 2, AnchorsPerLocation = value }, "AnchorsPerLocation", ">= 1", value);
    }

    [Fact]
    public void An_undefined_activation_is_rejected()
        => FluentActions.Invoking(() => new DecoupledDenseKdLossOptions { Classes = 2, Activation = (DenseKdActivation)7 })
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName("Activation").WithMessage("*Sigmoid or Softmax; got 7*");

    [Theory]
    [InlineData(1e-7)]
    [InlineData(1e7)]
    [InlineData(double.NaN)]
    public void Temperatures_outside_the_float32_safe_range_are_rejected(double temperature)
    {
        ShouldRejectOption(() => new DecoupledDenseKdLossOptions { Classes = 2, ObjectTemperature = temperature }, "ObjectTemperature", "[1E-06, 1000000]", temperature);
        ShouldRejectOption(() => new DecoupledDenseKdLossOptions { Classes = 2, BackgroundTemperature = temperature }, "BackgroundTemperature", "[1E-06, 1000000]", temperature);
    }

    [Theory]
    [InlineData(-1.0)]
    [InlineData(double.PositiveInfinity)]
    public void Negative_or_infinite_weights_are_rejected(double weight)
    {
        ShouldRejectOption(() => new DecoupledDenseKdLossOptions { Classes = 2, ObjectWeight = weight }, "ObjectWeight", ">= 0", weight);
        ShouldRejectOption(() => new DecoupledDenseKdLossOptions { Classes = 2, BackgroundWeight = weight }, "BackgroundWeight", ">= 0", weight);
    }

    [Fact]
    public void The_extreme_accepted_temperatures_give_finite_losses()
    {
        var student = torch.tensor(new float[] { 3, -2, 1, -1, 4, 0 }).reshape(1, 3, 1, 2);
        var teacher = torch.tensor(new float[] { 2, 1, -3, 0, 5, 1 }).reshape(1, 3, 1, 2);
        var weights = torch.tensor(new float[] { 1, 0 }).reshape(1, 1, 2);
        foreach (var activation in new[] { DenseKdActivation.Sigmoid, DenseKdActivation.Softmax })
        {
            foreach (var temperature in new[] { 1e-6, 1e6 })
            {
                using var extreme = new DecoupledDenseKdLoss(new DecoupledDenseKdLossOptions
                {
                    Classes = 3, Activation = activation, ObjectTemperature = temperature, BackgroundTemperature = temperature,
                });

                extreme.call([student], [teacher], [weights]).Total.isfinite().item<bool>().Should().BeTrue($"{activation}, T = {temperature}");
            }
        }
    }
}
