using DeFeat.Losses.Masks;
using DeFeat.Losses.Tests.Support;
using TorchSharp;
using static DeFeat.Losses.Tests.Masks.MaskTestData;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Masks;

public class ObjectMaskBuilderValidationTests
{
    private static readonly FeatureMapSize[] Sizes = [new(6, 8), new(3, 4)];
    private static readonly double[] Strides = [8, 16];

    private static Action Building(IReadOnlyList<Tensor> gtBoxes, IReadOnlyList<FeatureMapSize>? sizes = null, IReadOnlyList<double>? strides = null)
        => () => new DeFeatMaskBuilder().Build(gtBoxes, sizes ?? Sizes, strides ?? Strides);

    [Fact]
    public void Null_box_list_is_rejected()
        => Building(null!).Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("gtBoxes");

    [Fact]
    public void Empty_box_list_is_rejected()
        => Building([]).Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "gtBoxes" && e.Message.Contains("must not be empty"));

    [Fact]
    public void Null_box_tensor_is_rejected()
        => Building([Boxes(), null!]).Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("gtBoxes[1]");

    [Fact]
    public void Box_tensor_of_the_wrong_rank_is_rejected()
        => Building([zeros(4)]).Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "gtBoxes[0]" && e.Message.Contains("[N, 4]") && e.Message.Contains("got shape [4]"));

    [Fact]
    public void Box_tensor_without_four_coordinates_is_rejected()
        => Building([Boxes(), zeros(2, 5)]).Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "gtBoxes[1]" && e.Message.Contains("[2, 4]") && e.Message.Contains("got [2, 5]"));

    [Fact]
    public void Integer_box_tensor_is_rejected()
        => Building([zeros(1, 4, ScalarType.Int64)]).Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "gtBoxes[0]" && e.Message.Contains("floating-point") && e.Message.Contains("Int64"));

    [Fact]
    public void Box_with_x2_below_x1_is_rejected_naming_image_and_row()
        => Building([Boxes([0, 0, 8, 8]), Boxes([0, 0, 4, 4], [10, 0, 9, 4])]).Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "gtBoxes[1]" && e.Message.Contains("row 1") && e.Message.Contains("got [10, 0, 9, 4]"));

    [Fact]
    public void Box_with_y2_below_y1_is_rejected()
        => Building([Boxes([0, 5, 8, 4])]).Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "gtBoxes[0]" && e.Message.Contains("y1 <= y2") && e.Message.Contains("got [0, 5, 8, 4]"));

    [Fact]
    public void Box_with_a_NaN_coordinate_is_rejected()
        => Building([Boxes([0, 0, 8, 8]), Boxes(), Boxes([0, double.NaN, 8, 8])]).Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "gtBoxes[2]" && e.Message.Contains("finite") && e.Message.Contains("row 0"));

    [Fact]
    public void Box_with_an_infinite_coordinate_is_rejected()
        => Building([Boxes([0, 0, double.PositiveInfinity, 8])]).Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "gtBoxes[0]" && e.Message.Contains("finite"));

    [Fact]
    public void Box_values_are_not_read_when_the_check_is_off()
    {
        var builder = new DeFeatMaskBuilder { ValidateBoxValues = false };
        var masks = builder.Build([Boxes([10, 0, 9, 4], [0, double.NaN, double.PositiveInfinity, 8])], Sizes, Strides);
        masks.Select(m => m.shape).Should().BeEquivalentTo(new[] { new long[] { 1, 6, 8 }, new long[] { 1, 3, 4 } });
        DisposeAll(masks);
    }

    [CudaFact]
    public void Box_values_on_cuda_are_checked_only_when_asked()
    {
        using var bad = Boxes([10, 0, 9, 4]).cuda();
        var masks = new DeFeatMaskBuilder().Build([bad], Sizes, Strides);
        masks.Select(m => m.device_type).Should().AllBeEquivalentTo(DeviceType.CUDA);
        DisposeAll(masks);

        FluentActions.Invoking(() => new DeFeatMaskBuilder { ValidateBoxValues = true }.Build([bad], Sizes, Strides))
            .Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "gtBoxes[0]" && e.Message.Contains("got [10, 0, 9, 4]"));
    }

    [Fact]
    public void Boxes_on_different_devices_are_rejected()
    {
        using var meta = zeros([1, 4], ScalarType.Float32, new Device(DeviceType.META));
        Building([Boxes(), meta]).Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "gtBoxes[1]" && e.Message.Contains("device cpu") && e.Message.Contains("got meta"));
    }

    [Fact]
    public void Null_feature_sizes_are_rejected()
        => FluentActions.Invoking(() => new DeFeatMaskBuilder().Build([Boxes()], null!, Strides))
            .Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("featureSizes");

    [Fact]
    public void Null_strides_are_rejected()
        => FluentActions.Invoking(() => new DeFeatMaskBuilder().Build([Boxes()], Sizes, null!))
            .Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("strides");

    [Fact]
    public void Zero_levels_are_rejected()
        => Building([Boxes()], [], []).Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "featureSizes" && e.Message.Contains("must not be empty"));

    [Fact]
    public void Stride_count_different_from_level_count_is_rejected()
        => Building([Boxes()], Sizes, [8]).Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "strides" && e.Message.Contains("must have 2 strides") && e.Message.Contains("got 1"));

    [Theory]
    [InlineData(0)]
    [InlineData(-8)]
    [InlineData(double.NaN)]
    public void Non_positive_stride_is_rejected(double stride)
        => Building([Boxes()], Sizes, [8, stride]).Should().Throw<ArgumentOutOfRangeException>()
            .Where(e => e.ParamName == "strides[1]" && e.Message.Contains("> 0"));

    [Theory]
    [InlineData(0, 4, "featureSizes[1].Height")]
    [InlineData(3, -1, "featureSizes[1].Width")]
    public void Non_positive_feature_size_is_rejected(int height, int width, string argument)
        => Building([Boxes()], [new(6, 8), new(height, width)], Strides).Should().Throw<ArgumentOutOfRangeException>()
            .Where(e => e.ParamName == argument && e.Message.Contains("> 0"));
}
