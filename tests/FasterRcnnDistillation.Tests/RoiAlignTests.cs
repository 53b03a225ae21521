using FasterRcnnDistillation.Ops;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Tests;

public class RoiAlignTests
{
    private const int Size = 16;

    [Fact]
    public void Pools_bin_centres_of_a_ramp_from_the_right_image_of_the_batch()
    {
        // Image 0: f = 2x + 3y (channel 0) and its negation (channel 1); image 1: f = 100 + x − y.
        using var features = Ramps();
        using var rois = tensor(new float[] { 0, 2, 3, 10, 7 }, 1, 5);

        using var pooled = RoiAlign.Pool(features, rois, outputSize: 2, spatialScale: 1, samplingRatio: 2);

        // Aligned RoIAlign: x starts at 2 − 0.5, bins 4 px wide → centres 3.5, 7.5; y: 2.5 + 1, 2.5 + 3 → 3.5, 5.5.
        // A bilinear ramp averaged over symmetric samples equals its value at the bin centre.
        pooled.shape.Should().Equal(1, 2, 2, 2);
        pooled[0, 0].data<float>().ToArray().Should().Equal(new[] { 17.5f, 25.5f, 23.5f, 31.5f }, Close);
        pooled[0, 1].data<float>().ToArray().Should().Equal(new[] { -17.5f, -25.5f, -23.5f, -31.5f }, Close);
    }

    [Fact]
    public void Applies_the_spatial_scale_and_the_batch_index()
    {
        using var features = Ramps();
        using var rois = tensor(new float[] { 1, 4, 4, 12, 12 }, 1, 5);

        using var pooled = RoiAlign.Pool(features, rois, outputSize: 2, spatialScale: 0.5, samplingRatio: 2);

        // Scaled box [2, 2, 6, 6] − 0.5 → bins centred at 2.5 and 4.5 on both axes of f = 100 + x − y.
        pooled[0, 0].data<float>().ToArray().Should().Equal(new[] { 100f, 102f, 98f, 100f }, Close);
    }

    [Fact]
    public void Clamps_samples_that_fall_outside_the_map_to_its_border()
    {
        using var features = Ramps();
        using var rois = tensor(new float[] { 0, -4, 0, 4, 2 }, 1, 5);

        using var pooled = RoiAlign.Pool(features, rois, outputSize: 1, spatialScale: 1, samplingRatio: 2);

        // x samples −2.5 → 0 and 1.5 (mean 0.75); y samples 0 and 1 (mean 0.5): 2 · 0.75 + 3 · 0.5 = 3.
        pooled[0, 0, 0, 0].item<float>().Should().BeApproximately(3f, 1e-4f);
    }

    [Fact]
    public void Empty_rois_give_an_empty_result()
    {
        using var features = Ramps();

        RoiAlign.Pool(features, zeros(0, 5), 7, 1, 2).shape.Should().Equal(0, 2, 7, 7);
    }

    [Theory]
    [InlineData(56, 0)]
    [InlineData(111, 0)]
    [InlineData(112, 1)]
    [InlineData(224, 2)]
    [InlineData(447, 2)]
    [InlineData(448, 3)]
    [InlineData(2000, 3)]
    public void Maps_rois_to_levels_by_the_224_rule(int side, long expectedLevel)
    {
        using var rois = tensor(new float[] { 0, 10, 10, 10 + side, 10 + side }, 1, 5);

        RoiAlign.MapLevels(rois, levels: 4).item<long>().Should().Be(expectedLevel);
    }

    [Fact]
    public void Multi_level_pooling_reads_each_roi_from_its_own_level()
    {
        using var fine = full(1, 1, 32, 32, 1f);
        using var coarse = full(1, 1, 16, 16, 2f);
        using var rois = tensor(new float[] { 0, 0, 0, 112, 112, 0, 8, 8, 64, 64 }, 2, 5);

        using var pooled = RoiAlign.PoolMultiLevel(new[] { fine, coarse }, new[] { 4, 8 }, rois, outputSize: 2, samplingRatio: 2);

        pooled.shape.Should().Equal(2, 1, 2, 2);
        pooled[0].data<float>().ToArray().Should().AllSatisfy(v => v.Should().Be(2f));
        pooled[1].data<float>().ToArray().Should().AllSatisfy(v => v.Should().Be(1f));
    }

    private static bool Close(float a, float b) => Math.Abs(a - b) < 1e-4;

    private static Tensor Ramps()
    {
        var values = new float[2 * 2 * Size * Size];
        for (int y = 0; y < Size; y++)
        {
            for (int x = 0; x < Size; x++)
            {
                values[(0 * Size + y) * Size + x] = 2 * x + 3 * y;
                values[(1 * Size + y) * Size + x] = -(2 * x + 3 * y);
                values[(2 * Size + y) * Size + x] = 100 + x - y;
                values[(3 * Size + y) * Size + x] = 100 + x - y;
            }
        }

        return tensor(values, 2, 2, Size, Size);
    }
}
