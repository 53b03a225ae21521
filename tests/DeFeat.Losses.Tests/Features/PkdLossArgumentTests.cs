using DeFeat.Losses.Features;
using TorchSharp;
using static DeFeat.Losses.Tests.Masks.MaskTestData;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Features;

public sealed class PkdLossArgumentTests : IDisposable
{
    private static readonly Device Meta = new(DeviceType.META);

    private readonly DisposeScope scope = torch.NewDisposeScope();
    private readonly PkdLoss loss = new();

    public void Dispose()
    {
        loss.Dispose();
        scope.Dispose();
    }

    private static Tensor Features(long batch, long channels, long height, long width, ScalarType dtype = ScalarType.Float32)
        => torch.zeros(batch, channels, height, width, dtype);

    private static Action Call(PkdLoss loss, IReadOnlyList<Tensor>? students, IReadOnlyList<Tensor>? teachers)
        => () => loss.call(students!, teachers!);

    private Action Call(IReadOnlyList<Tensor>? students, IReadOnlyList<Tensor>? teachers) => Call(loss, students, teachers);

    [Fact]
    public void Null_lists_and_tensors_are_rejected()
    {
        Tensor[] f = [Features(1, 2, 3, 3)];
        Call(null, f).Should().Throw<ArgumentNullException>().WithParameterName("studentFeatures");
        Call(f, null).Should().Throw<ArgumentNullException>().WithParameterName("teacherFeatures");
        Call([null!], f).Should().Throw<ArgumentNullException>().WithParameterName("studentFeatures[0]");
    }

    [Fact]
    public void Zero_levels_and_level_count_mismatches_are_rejected()
    {
        Call([], []).Should().Throw<ArgumentException>().WithParameterName("studentFeatures").WithMessage("*must not be empty*");
        Call([Features(1, 2, 3, 3), Features(1, 2, 2, 2)], [Features(1, 2, 3, 3)])
            .Should().Throw<ArgumentException>().WithParameterName("teacherFeatures").WithMessage("*2 feature maps*got 1*");
    }

    [Theory]
    [InlineData(2, 3)] // channels
    [InlineData(1, 4)] // batch
    public void Batch_or_channel_mismatches_are_rejected_and_point_to_an_adaptation_layer(long batch, long channels)
    {
        Call([Features(2, 4, 3, 3)], [Features(batch, channels, 6, 6)])
            .Should().Throw<ArgumentException>().WithParameterName("teacherFeatures[0]")
            .WithMessage($"*batch size 2 and 4 channels*[2, 4, 3, 3]*got shape [{batch}, {channels}, 6, 6]*FeatureAdapters*");
    }

    [Fact]
    public void Ranks_dtypes_and_devices_are_checked()
    {
        Call([torch.zeros(2, 3, 3)], [Features(1, 2, 3, 3)])
            .Should().Throw<ArgumentException>().WithParameterName("studentFeatures[0]").WithMessage("*4-D*got shape [2, 3, 3]*");
        Call([Features(1, 2, 3, 3)], [Features(1, 2, 3, 3, ScalarType.Int32)])
            .Should().Throw<ArgumentException>().WithParameterName("teacherFeatures[0]").WithMessage("*floating-point*Int32*");
        Call([Features(1, 2, 3, 3)], [Features(1, 2, 3, 3).to(Meta)])
            .Should().Throw<ArgumentException>().WithParameterName("teacherFeatures[0]").WithMessage("*device cpu*got meta*");
    }

    [Fact]
    public void A_compared_size_with_fewer_than_two_values_per_channel_is_rejected()
    {
        // One image, teacher 1×1: the student would be resized to 1×1, one value per channel.
        Call([Features(1, 2, 3, 3)], [Features(1, 2, 1, 1)])
            .Should().Throw<ArgumentException>().WithParameterName("teacherFeatures[0]")
            .WithMessage("*B·H·W = 1 value(s) per normalised channel*[1, 2, 1, 1]*at least 2*");
        // Two images of 1×1 are enough over the batch, not per image.
        Call([Features(2, 2, 1, 1)], [Features(2, 2, 1, 1)]).Should().NotThrow();
        using var perSample = new PkdLoss(new PkdLossOptions { NormalizePerSample = true });
        Call(perSample, [Features(2, 2, 1, 1)], [Features(2, 2, 1, 1)])
            .Should().Throw<ArgumentException>().WithParameterName("teacherFeatures[0]").WithMessage("*H·W = 1 value(s)*");
        // With the teacher resized instead, the student's size is the compared one.
        using var resizeTeacher = new PkdLoss(new PkdLossOptions { ResizeStudent = false });
        Call(resizeTeacher, [Features(1, 2, 1, 1)], [Features(1, 2, 3, 3)])
            .Should().Throw<ArgumentException>().WithParameterName("studentFeatures[0]");
    }

    [Fact]
    public void A_disposed_loss_or_input_says_so()
    {
        var disposedInput = Features(1, 2, 3, 3);
        disposedInput.Dispose();
        Call([Features(1, 2, 3, 3)], [disposedInput])
            .Should().Throw<ObjectDisposedException>().WithMessage("teacherFeatures[0] is a disposed tensor*");

        var disposedLoss = new PkdLoss();
        disposedLoss.Dispose();
        Call(disposedLoss, [Features(1, 2, 3, 3)], [Features(1, 2, 3, 3)])
            .Should().Throw<ObjectDisposedException>().WithMessage("*PkdLoss was disposed*create a new one*");
    }

    [Theory]
    [InlineData(-0.5)]
    [InlineData(double.NaN)]
    public void A_negative_or_non_finite_loss_weight_is_rejected(double weight)
        => ShouldRejectOption(() => new PkdLossOptions { LossWeight = weight }, "LossWeight", ">= 0", weight);
}
