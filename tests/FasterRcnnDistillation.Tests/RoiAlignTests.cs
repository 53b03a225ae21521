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
    public void Matches_a_plain_loop_of_clamped_bilinear_samples_on_random_features()
    {
        using var features = Random(seed: 3, 2, 3, 9, 11);
        // Inside, partly outside, tiny and reversed-image rois, on both images.
        using var rois = tensor(new double[]
        {
            0, 1.5, 2.25, 17.0, 13.5,
            1, -6.0, -3.0, 9.0, 30.0,
            1, 10.2, 4.4, 10.9, 5.1,
            0, 12.0, 0.0, 40.0, 18.0,
        }, 4, 5, dtype: float64);

        using var pooled = RoiAlign.Pool(features, rois, outputSize: 3, spatialScale: 0.5, samplingRatio: 2);

        var expected = PlainRoiAlign(features, rois, outputSize: 3, spatialScale: 0.5, samplingRatio: 2);
        pooled.shape.Should().Equal(4, 3, 3, 3);
        pooled.data<double>().ToArray().Should().Equal(expected, (a, b) => Math.Abs(a - b) < 1e-10);
    }

    [Theory]
    [InlineData(new[] { 0, 0, 1, 1, 1 })]
    [InlineData(new[] { 1, 0, 1, 0, 1 })]
    public void Rois_grouped_by_image_or_interleaved_match_the_plain_loop(int[] images)
    {
        using var features = Random(seed: 4, 2, 2, 8, 10);
        var boxes = new double[] { 1.5, 2.0, 20.0, 12.5, -3.0, 0.5, 9.0, 16.0, 4.0, 4.0, 6.5, 7.0, 0.0, 0.0, 40.0, 32.0, 10.0, 1.0, 30.0, 9.0 };
        using var rois = tensor(images.SelectMany((b, r) => boxes[(r * 4)..(r * 4 + 4)].Prepend(b)).ToArray(), 5, 5, dtype: float64);

        using var pooled = RoiAlign.Pool(features, rois, outputSize: 2, spatialScale: 0.5, samplingRatio: 2);

        pooled.data<double>().ToArray().Should().Equal(
            PlainRoiAlign(features, rois, outputSize: 2, spatialScale: 0.5, samplingRatio: 2), (a, b) => Math.Abs(a - b) < 1e-10);
    }

    [Fact]
    public void Feature_gradients_match_finite_differences()
    {
        using var features = Random(seed: 5, 1, 2, 6, 7).requires_grad_();
        using var rois = tensor(new double[] { 0, 0.7, 1.1, 11.3, 9.8, 0, -2, 3, 5, 14 }, 2, 5, dtype: float64);
        using var weights = Random(seed: 6, 2, 2, 2, 2);
        Func<Tensor, double> objective = f =>
        {
            using var pooled = RoiAlign.Pool(f, rois, outputSize: 2, spatialScale: 0.5, samplingRatio: 2);
            using var weighted = (pooled * weights).sum();
            return weighted.item<double>();
        };

        using (var loss = (RoiAlign.Pool(features, rois, 2, 0.5, 2) * weights).sum())
        {
            loss.backward();
        }

        var analytic = features.grad!.data<double>().ToArray();
        var values = features.detach().clone();
        var flat = values.view(-1);
        for (int i = 0; i < flat.shape[0]; i++)
        {
            double original = flat[i].item<double>();
            flat[i] = original + 1e-6;
            double plus = objective(values);
            flat[i] = original - 1e-6;
            double minus = objective(values);
            flat[i] = original;
            ((plus - minus) / 2e-6).Should().BeApproximately(analytic[i], 1e-6, $"element {i}");
        }
    }

    [Fact]
    public void Rois_of_an_image_outside_the_batch_are_rejected_by_name()
    {
        using var features = Ramps();
        using var rois = tensor(new float[] { 0, 1, 1, 5, 5, 2, 1, 1, 5, 5 }, 2, 5);

        FluentActions.Invoking(() => RoiAlign.Pool(features, rois, 2, 1, 2))
            .Should().Throw<ArgumentException>().WithParameterName("rois").WithMessage("*1 of 2 rows*[0, 2)*");
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

    private static Tensor Random(int seed, params long[] shape)
    {
        var generator = new Random(seed);
        var values = new double[shape.Aggregate(1L, (a, b) => a * b)];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = generator.NextDouble() * 2 - 1;
        }

        return tensor(values, shape, dtype: float64);
    }

    /// <summary>The definition, one sample at a time: bilinear at clamped coordinates, averaged over each bin.</summary>
    private static double[] PlainRoiAlign(Tensor features, Tensor rois, int outputSize, double spatialScale, int samplingRatio)
    {
        long channels = features.shape[1], height = features.shape[2], width = features.shape[3];
        var map = features.data<double>().ToArray();
        var boxes = rois.data<double>().ToArray();
        long count = rois.shape[0];
        var result = new List<double>();
        double At(long b, long c, long y, long x) => map[((b * channels + c) * height + y) * width + x];
        for (long r = 0; r < count; r++)
        {
            long b = (long)boxes[r * 5];
            double x1 = boxes[r * 5 + 1] * spatialScale - 0.5, y1 = boxes[r * 5 + 2] * spatialScale - 0.5;
            double binW = (boxes[r * 5 + 3] - boxes[r * 5 + 1]) * spatialScale / outputSize;
            double binH = (boxes[r * 5 + 4] - boxes[r * 5 + 2]) * spatialScale / outputSize;
            for (long c = 0; c < channels; c++)
            {
                for (int i = 0; i < outputSize; i++)
                {
                    for (int j = 0; j < outputSize; j++)
                    {
                        double sum = 0;
                        for (int sy = 0; sy < samplingRatio; sy++)
                        {
                            for (int sx = 0; sx < samplingRatio; sx++)
                            {
                                double y = Math.Clamp(y1 + binH * (i + (sy + 0.5) / samplingRatio), 0, height - 1);
                                double x = Math.Clamp(x1 + binW * (j + (sx + 0.5) / samplingRatio), 0, width - 1);
                                long y0 = (long)Math.Floor(y), x0 = (long)Math.Floor(x);
                                long yUp = Math.Min(y0 + 1, height - 1), xUp = Math.Min(x0 + 1, width - 1);
                                double fy = y - y0, fx = x - x0;
                                sum += (1 - fy) * ((1 - fx) * At(b, c, y0, x0) + fx * At(b, c, y0, xUp))
                                    + fy * ((1 - fx) * At(b, c, yUp, x0) + fx * At(b, c, yUp, xUp));
                            }
                        }

                        result.Add(sum / (samplingRatio * samplingRatio));
                    }
                }
            }
        }

        return result.ToArray();
    }

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
