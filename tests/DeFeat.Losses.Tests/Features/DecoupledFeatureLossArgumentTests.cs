using DeFeat.Losses.Adaptation;
using DeFeat.Losses.Features;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Features;

public sealed class DecoupledFeatureLossArgumentTests : IDisposable
{
    private static readonly Device Meta = new(DeviceType.META);

    private readonly DisposeScope scope = torch.NewDisposeScope();
    private readonly DecoupledFeatureLoss plainLoss = new();

    public void Dispose()
    {
        plainLoss.Dispose();
        scope.Dispose();
    }

    private static Tensor Features(long batch, long channels, long height, long width, ScalarType dtype = ScalarType.Float32)
        => torch.zeros(batch, channels, height, width, dtype);

    private static Tensor Mask(long batch, long height, long width) => torch.zeros(batch, height, width);

    private Action Call(IReadOnlyList<Tensor>? students, IReadOnlyList<Tensor>? teachers, IReadOnlyList<Tensor>? masks)
        => Call(plainLoss, students, teachers, masks);

    private static Action Call(
        DecoupledFeatureLoss loss, IReadOnlyList<Tensor>? students, IReadOnlyList<Tensor>? teachers, IReadOnlyList<Tensor>? masks)
        => () => loss.call(students!, teachers!, masks!);

    [Fact]
    public void Null_lists_are_rejected()
    {
        Tensor[] s = [Features(1, 2, 3, 3)], t = [Features(1, 2, 3, 3)], m = [Mask(1, 3, 3)];
        Call(null, t, m).Should().Throw<ArgumentNullException>().WithParameterName("studentFeatures");
        Call(s, null, m).Should().Throw<ArgumentNullException>().WithParameterName("teacherFeatures");
        Call(s, t, null).Should().Throw<ArgumentNullException>().WithParameterName("objectMasks");
    }

    [Fact]
    public void Null_tensors_are_rejected()
    {
        Call([Features(1, 2, 3, 3)], [null!], [Mask(1, 3, 3)])
            .Should().Throw<ArgumentNullException>().WithParameterName("teacherFeatures[0]");
    }

    [Fact]
    public void Zero_levels_are_rejected()
    {
        Call([], [], []).Should().Throw<ArgumentException>().WithParameterName("studentFeatures")
            .WithMessage("*must not be empty*");
    }

    [Fact]
    public void Level_count_mismatches_are_rejected()
    {
        Tensor[] two = [Features(1, 2, 3, 3), Features(1, 2, 2, 2)];
        Tensor[] twoMasks = [Mask(1, 3, 3), Mask(1, 2, 2)];
        Call(two, two.Take(1).ToArray(), twoMasks)
            .Should().Throw<ArgumentException>().WithParameterName("teacherFeatures").WithMessage("*2 feature maps*got 1*");
        Call(two, two, [.. twoMasks, Mask(1, 1, 1)])
            .Should().Throw<ArgumentException>().WithParameterName("objectMasks").WithMessage("*2 masks*got 3*");
    }

    [Fact]
    public void A_level_count_other_than_the_adapters_is_rejected()
    {
        using var loss = new DecoupledFeatureLoss(adapters: new FeatureAdapters([2, 2, 2], [2, 2, 2]));
        Tensor[] two = [Features(1, 2, 3, 3), Features(1, 2, 2, 2)];
        Call(loss, two, two, [Mask(1, 3, 3), Mask(1, 2, 2)])
            .Should().Throw<ArgumentException>().WithParameterName("studentFeatures").WithMessage("*3 feature maps*got 2*");
    }

    [Theory]
    [InlineData(1, 4, 5, 5)] // batch
    [InlineData(2, 4, 6, 5)] // height
    [InlineData(2, 4, 5, 4)] // width
    [InlineData(2, 3, 5, 5)] // channels, without adapters
    public void Teacher_sizes_that_differ_from_the_student_are_rejected(long batch, long channels, long height, long width)
    {
        Call([Features(2, 4, 5, 5)], [Features(batch, channels, height, width)], [Mask(2, 5, 5)])
            .Should().Throw<ArgumentException>().WithParameterName("teacherFeatures[0]")
            .WithMessage($"*[2, 4, 5, 5]*got [{batch}, {channels}, {height}, {width}]*");
    }

    [Fact]
    public void With_adapters_the_student_must_fit_the_adapter_input_and_the_teacher_its_output()
    {
        using var loss = new DecoupledFeatureLoss(adapters: new FeatureAdapters([3, 2], [5, 4]));
        Tensor[] masks = [Mask(1, 4, 4), Mask(1, 2, 2)];
        Tensor[] teachers = [Features(1, 5, 4, 4), Features(1, 4, 2, 2)];

        Call(loss, [Features(1, 3, 4, 4), Features(1, 3, 2, 2)], teachers, masks)
            .Should().Throw<ArgumentException>().WithParameterName("studentFeatures[1]").WithMessage("*2 channels*got shape [1, 3, 2, 2]*");
        Call(loss, [Features(1, 3, 4, 4), Features(1, 2, 2, 2)], [teachers[0], Features(1, 2, 2, 2)], masks)
            .Should().Throw<ArgumentException>().WithParameterName("teacherFeatures[1]").WithMessage("*[1, 4, 2, 2]*got [1, 2, 2, 2]*");
        Call(loss, [Features(1, 3, 4, 4), Features(1, 2, 2, 2)], teachers, masks).Should().NotThrow();
    }

    [Theory]
    [InlineData(new long[] { 2, 1, 5, 5 }, "*[B, H, W]*")] // a channel axis
    [InlineData(new long[] { 1, 5, 5 }, "*[2, 5, 5]*got [1, 5, 5]*")]
    [InlineData(new long[] { 2, 5, 4 }, "*[2, 5, 5]*got [2, 5, 4]*")]
    public void Masks_must_be_batch_by_feature_size(long[] maskShape, string message)
    {
        Call([Features(2, 4, 5, 5)], [Features(2, 4, 5, 5)], [torch.zeros(maskShape)])
            .Should().Throw<ArgumentException>().WithParameterName("objectMasks[0]").WithMessage(message);
    }

    [Fact]
    public void Features_must_be_four_dimensional()
    {
        Call([torch.zeros(4, 5, 5)], [Features(1, 4, 5, 5)], [Mask(1, 5, 5)])
            .Should().Throw<ArgumentException>().WithParameterName("studentFeatures[0]").WithMessage("*4-D*got shape [4, 5, 5]*");
    }

    [Fact]
    public void Tensors_on_another_device_are_rejected()
    {
        Call([Features(1, 2, 3, 3)], [Features(1, 2, 3, 3).to(Meta)], [Mask(1, 3, 3)])
            .Should().Throw<ArgumentException>().WithParameterName("teacherFeatures[0]").WithMessage("*device cpu*got meta*");
        Call([Features(1, 2, 3, 3)], [Features(1, 2, 3, 3)], [Mask(1, 3, 3).to(Meta)])
            .Should().Throw<ArgumentException>().WithParameterName("objectMasks[0]").WithMessage("*device cpu*got meta*");
        Call([Features(1, 2, 3, 3), Features(1, 2, 2, 2).to(Meta)], [Features(1, 2, 3, 3), Features(1, 2, 2, 2)], [Mask(1, 3, 3), Mask(1, 2, 2)])
            .Should().Throw<ArgumentException>().WithParameterName("studentFeatures[1]").WithMessage("*device cpu*got meta*");
    }

    [Fact]
    public void Student_features_on_another_device_than_the_adapters_are_rejected()
    {
        using var loss = new DecoupledFeatureLoss(adapters: new FeatureAdapters([2], [2]));
        Call(loss, [Features(1, 2, 3, 3).to(Meta)], [Features(1, 2, 3, 3).to(Meta)], [Mask(1, 3, 3).to(Meta)])
            .Should().Throw<ArgumentException>().WithParameterName("studentFeatures[0]").WithMessage("*device cpu*got meta*");
    }

    [Fact]
    public void Non_floating_features_and_masks_are_rejected()
    {
        Call([Features(1, 2, 3, 3, ScalarType.Int64)], [Features(1, 2, 3, 3)], [Mask(1, 3, 3)])
            .Should().Throw<ArgumentException>().WithParameterName("studentFeatures[0]").WithMessage("*floating-point*Int64*");
        Call([Features(1, 2, 3, 3)], [Features(1, 2, 3, 3, ScalarType.Int32)], [Mask(1, 3, 3)])
            .Should().Throw<ArgumentException>().WithParameterName("teacherFeatures[0]").WithMessage("*floating-point*Int32*");
        Call([Features(1, 2, 3, 3)], [Features(1, 2, 3, 3)], [torch.zeros(1, 3, 3, ScalarType.Bool)])
            .Should().Throw<ArgumentException>().WithParameterName("objectMasks[0]").WithMessage("*floating-point*Bool*");
    }
}
