using DeFeat.Losses.Masks;
using TorchSharp;
using static DeFeat.Losses.Tests.Masks.MaskTestData;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Masks;

public class DeFeatMaskBuilderTests
{
    // One level, stride 8, 6 × 8 cells: a 64 × 48 pixel input image.
    private static readonly FeatureMapSize[] OneLevel = [new(6, 8)];
    private static readonly double[] StrideEight = [8];

    private static Tensor BuildOne(params double[][] boxes)
    {
        var masks = new DeFeatMaskBuilder().Build([Boxes(boxes)], OneLevel, StrideEight);
        masks.Should().HaveCount(1);
        return masks[0];
    }

    [Fact]
    public void A_box_marks_the_truncated_cell_range()
    {
        // rows [int(17/8), int(41/8)) = [2, 5), columns [int(12/8), int(47/8)) = [1, 5).
        using var mask = BuildOne([12, 17, 47, 41]);
        Grid(mask, 0).Should().BeEquivalentTo(new[,]
        {
            { 0, 0, 0, 0, 0, 0, 0, 0 },
            { 0, 0, 0, 0, 0, 0, 0, 0 },
            { 0, 1, 1, 1, 1, 0, 0, 0 },
            { 0, 1, 1, 1, 1, 0, 0, 0 },
            { 0, 1, 1, 1, 1, 0, 0, 0 },
            { 0, 0, 0, 0, 0, 0, 0, 0 },
        });
    }

    [Fact]
    public void The_mask_is_float32_with_one_row_per_image_on_the_boxes_device()
    {
        var masks = new DeFeatMaskBuilder().Build(
            [Boxes([0, 0, 10, 10]), Boxes(), Boxes([0, 0, 10, 10]).to(ScalarType.Float64)],
            [new(6, 8), new(3, 4)],
            [8, 16]);
        masks.Select(m => m.shape).Should().BeEquivalentTo(new[] { new long[] { 3, 6, 8 }, new long[] { 3, 3, 4 } });
        masks.Should().AllSatisfy(m => m.dtype.Should().Be(ScalarType.Float32));
        masks.Should().AllSatisfy(m => m.device_type.Should().Be(DeviceType.CPU));
        DisposeAll(masks);
    }

    [Fact]
    public void Boxes_touching_the_right_and_bottom_border_mark_the_last_row_and_column()
    {
        // (40, 24, 64, 48): rows [3, min(6, 6)), columns [5, min(8, 8)).
        using var mask = BuildOne([40, 24, 64, 48]);
        Grid(mask, 0).Should().BeEquivalentTo(new[,]
        {
            { 0, 0, 0, 0, 0, 0, 0, 0 },
            { 0, 0, 0, 0, 0, 0, 0, 0 },
            { 0, 0, 0, 0, 0, 0, 0, 0 },
            { 0, 0, 0, 0, 0, 1, 1, 1 },
            { 0, 0, 0, 0, 0, 1, 1, 1 },
            { 0, 0, 0, 0, 0, 1, 1, 1 },
        });
    }

    [Fact]
    public void Coordinates_past_the_image_are_cut_at_the_map_border()
    {
        // (50, 38, 100, 90): rows [4, min(11, 6)), columns [6, min(12, 8)).
        using var mask = BuildOne([50, 38, 100, 90]);
        Grid(mask, 0).Should().BeEquivalentTo(new[,]
        {
            { 0, 0, 0, 0, 0, 0, 0, 0 },
            { 0, 0, 0, 0, 0, 0, 0, 0 },
            { 0, 0, 0, 0, 0, 0, 0, 0 },
            { 0, 0, 0, 0, 0, 0, 0, 0 },
            { 0, 0, 0, 0, 0, 0, 1, 1 },
            { 0, 0, 0, 0, 0, 0, 1, 1 },
        });
    }

    [Fact]
    public void Negative_coordinates_act_as_zero()
    {
        // (-20, -5, 14, 10): rows [int(-0.6) = 0, 1), columns [max(int(-2.5), 0) = 0, 1).
        // (-30, 12, -10, 30): columns [0, max(int(-1.25), 0) = 0) are empty → single cell (1, clamp(-3) = 0).
        using var mask = BuildOne([-20, -5, 14, 10], [-30, 12, -10, 30]);
        Grid(mask, 0).Should().BeEquivalentTo(new[,]
        {
            { 1, 0, 0, 0, 0, 0, 0, 0 },
            { 1, 0, 0, 0, 0, 0, 0, 0 },
            { 0, 0, 0, 0, 0, 0, 0, 0 },
            { 0, 0, 0, 0, 0, 0, 0, 0 },
            { 0, 0, 0, 0, 0, 0, 0, 0 },
            { 0, 0, 0, 0, 0, 0, 0, 0 },
        });
    }

    [Fact]
    public void Boxes_with_an_empty_region_mark_one_cell_clamped_into_the_map()
    {
        // (20, 20, 20, 40): zero width → cell (int(20/8), int(20/8)) = (2, 2).
        // (9, 33, 30, 39): rows [4, 4) empty after truncation → cell (4, 1).
        // (70, 8, 90, 16): past the right edge, columns [8, 8) empty → cell (1, clamp(8) = 7).
        // (200, 200, 200, 200): a point far outside → cell (clamp(25), clamp(25)) = (5, 7).
        using var mask = BuildOne([20, 20, 20, 40], [9, 33, 30, 39], [70, 8, 90, 16], [200, 200, 200, 200]);
        Grid(mask, 0).Should().BeEquivalentTo(new[,]
        {
            { 0, 0, 0, 0, 0, 0, 0, 0 },
            { 0, 0, 0, 0, 0, 0, 0, 1 },
            { 0, 0, 1, 0, 0, 0, 0, 0 },
            { 0, 0, 0, 0, 0, 0, 0, 0 },
            { 0, 1, 0, 0, 0, 0, 0, 0 },
            { 0, 0, 0, 0, 0, 0, 0, 1 },
        });
    }

    [Fact]
    public void Overlapping_boxes_stay_binary()
    {
        using var mask = BuildOne([0, 0, 24, 24], [8, 8, 32, 32], [8, 8, 32, 32]);
        Grid(mask, 0).Should().BeEquivalentTo(new[,]
        {
            { 1, 1, 1, 0, 0, 0, 0, 0 },
            { 1, 1, 1, 1, 0, 0, 0, 0 },
            { 1, 1, 1, 1, 0, 0, 0, 0 },
            { 0, 1, 1, 1, 0, 0, 0, 0 },
            { 0, 0, 0, 0, 0, 0, 0, 0 },
            { 0, 0, 0, 0, 0, 0, 0, 0 },
        });
    }

    [Theory]
    [InlineData(111, 111, 0)]
    [InlineData(112, 112, 1)]
    [InlineData(56, 224, 1)]
    [InlineData(223, 223, 1)]
    [InlineData(224, 224, 2)]
    [InlineData(447, 447, 2)]
    [InlineData(448, 448, 3)]
    [InlineData(895, 895, 3)]
    [InlineData(896, 896, 4)]
    [InlineData(1792, 1792, 4)]
    [InlineData(5000, 5000, 4)]
    [InlineData(1, 1, 0)]
    public void A_box_goes_to_the_level_of_its_sqrt_area(int widthPlusOne, int heightPlusOne, int expectedLevel)
    {
        // sqrt((w+1)(h+1)): < 112 → 0, [112, 224) → 1, [224, 448) → 2, [448, 896) → 3, ≥ 896 → clamped to L−1 = 4.
        var box = Boxes([0, 0, widthPlusOne - 1, heightPlusOne - 1]);
        var masks = new DeFeatMaskBuilder().Build([box], Enumerable.Repeat(new FeatureMapSize(2, 2), 5).ToArray(), [4, 8, 16, 32, 64]);
        var marked = masks.Select(m => m.sum().ToSingle() > 0).ToArray();
        marked.Should().Equal(Enumerable.Range(0, 5).Select(level => level == expectedLevel));
        DisposeAll(masks);
    }

    [Theory]
    [InlineData(null, 0)]
    [InlineData(56.0, 0)]
    [InlineData(14.0, 2)]
    public void The_canonical_size_sets_the_scale_of_the_level_rule(double? canonicalSize, int expectedLevel)
    {
        // Box (0, 0, 59, 59): sqrt((59+1)(59+1)) = 60. c = 56 (the default): log2(60/56 ≈ 1.071) ≈ 0.10 → level 0.
        // c = 14: log2(60/14 ≈ 4.286) ≈ 2.10 → level 2 (of 4 levels, so not a clamp).
        var builder = canonicalSize is { } c ? new DeFeatMaskBuilder { CanonicalSize = c } : new DeFeatMaskBuilder();
        builder.CanonicalSize.Should().Be(canonicalSize ?? 56);
        var masks = builder.Build([Boxes([0, 0, 59, 59])], Enumerable.Repeat(new FeatureMapSize(2, 2), 4).ToArray(), [4, 8, 16, 32]);
        masks.Select(m => m.sum().ToSingle() > 0).Should().Equal(Enumerable.Range(0, 4).Select(level => level == expectedLevel));
        DisposeAll(masks);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-56.0)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void A_canonical_size_that_is_not_a_finite_positive_number_is_rejected(double canonicalSize)
        => ShouldRejectOption(() => new DeFeatMaskBuilder { CanonicalSize = canonicalSize }, "CanonicalSize", "> 0", canonicalSize);

    [Fact]
    public void Large_boxes_are_clamped_to_the_last_level_of_a_short_pyramid()
    {
        var masks = new DeFeatMaskBuilder().Build([Boxes([0, 0, 895, 895])], [new(2, 2), new(2, 2), new(2, 2)], [4, 8, 16]);
        masks.Select(m => m.sum().ToSingle() > 0).Should().Equal(false, false, true);
        DisposeAll(masks);
    }

    [Fact]
    public void Images_without_boxes_get_all_zero_masks()
    {
        var masks = new DeFeatMaskBuilder().Build([Boxes(), Boxes()], [new(6, 8), new(3, 4)], [8, 16]);
        masks.Select(m => m.shape).Should().BeEquivalentTo(new[] { new long[] { 2, 6, 8 }, new long[] { 2, 3, 4 } });
        masks.Should().AllSatisfy(m => m.count_nonzero().item<long>().Should().Be(0));
        DisposeAll(masks);
    }

    [Fact]
    public void Each_image_gets_only_its_own_boxes()
    {
        // Image 0: two boxes; image 1: none; image 2: one box. All small → level 0 (stride 8, 3 × 4 cells).
        var masks = new DeFeatMaskBuilder().Build(
            [Boxes([0, 0, 8, 8], [17, 9, 32, 24]), Boxes(), Boxes([8, 16, 24, 24])],
            [new(3, 4), new(2, 2)],
            [8, 16]);
        var level0 = masks[0];
        Grid(level0, 0).Should().BeEquivalentTo(new[,]
        {
            { 1, 0, 0, 0 },
            { 0, 0, 1, 1 },
            { 0, 0, 1, 1 },
        });
        Grid(level0, 1).Should().BeEquivalentTo(ZeroGrid(3, 4));
        Grid(level0, 2).Should().BeEquivalentTo(new[,]
        {
            { 0, 0, 0, 0 },
            { 0, 0, 0, 0 },
            { 0, 1, 1, 0 },
        });
        masks[1].count_nonzero().item<long>().Should().Be(0);
        DisposeAll(masks);
    }

    [Theory]
    [InlineData(1, 56.0)]
    [InlineData(2, 56.0)]
    [InlineData(3, 56.0)]
    [InlineData(4, 17.92)] // 56 · 256 / 800, the guidance for 256 px inputs
    [InlineData(5, 14.0)]
    public void Random_boxes_match_the_official_per_box_slice_loops(int seed, double canonicalSize)
    {
        var random = new Random(seed);
        (int Height, int Width)[] sizes = [(48, 64), (24, 32), (12, 16), (6, 8)];
        double[] strides = [4, 8, 16, 32];
        var boxes = RandomBoxes(random, imageCount: 4, imageWidth: 256, imageHeight: 192);

        var masks = new DeFeatMaskBuilder { CanonicalSize = canonicalSize }.Build(
            boxes.Select(image => image.Length == 0 ? Boxes() : Boxes(image)).ToArray(),
            sizes.Select(size => new FeatureMapSize(size.Height, size.Width)).ToArray(),
            strides);
        var expected = NaiveDeFeatMaskOracle.Build(boxes, sizes, strides, canonicalSize: canonicalSize);

        for (var level = 0; level < sizes.Length; level++)
        {
            for (var image = 0; image < boxes.Length; image++)
            {
                Values(masks[level], image).Should().BeEquivalentTo(expected[level][image], $"level {level}, image {image}");
            }
        }

        DisposeAll(masks);
    }

    [Fact]
    public void Building_leaves_no_live_tensors_behind()
    {
        var builder = new DeFeatMaskBuilder();
        using var boxes = Boxes([0, 0, 30, 30], [10, 10, 200, 150]);
        using var empty = Boxes();
        FeatureMapSize[] sizes = [new(24, 32), new(12, 16)];
        DisposeAll(builder.Build([boxes, empty], sizes, [8, 16]));

        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (var step = 0; step < 20; step++)
        {
            DisposeAll(builder.Build([boxes, empty], sizes, [8, 16]));
        }

        DisposeScopeManager.Statistics.ThreadTotalLiveCount.Should().Be(before);
    }

    [Fact]
    public void The_caller_boxes_are_left_usable_and_unchanged()
    {
        using var boxes = Boxes([12, 17, 47, 41]);
        using var boxes64 = Boxes([12, 17, 47, 41]).to(ScalarType.Float64);
        DisposeAll(new DeFeatMaskBuilder().Build([boxes, boxes64], OneLevel, StrideEight));
        boxes.data<float>().ToArray().Should().Equal(12f, 17f, 47f, 41f);
        boxes64.data<double>().ToArray().Should().Equal(12, 17, 47, 41);
    }

    /// <summary>
    /// Per image 0–12 boxes (one image always empty), float32-representable coordinates, sizes up to 260 px (levels
    /// 0–2), some degenerate (zero width or height), some partly negative or past the image.
    /// </summary>
    internal static double[][][] RandomBoxes(Random random, int imageCount, int imageWidth, int imageHeight)
    {
        double Coordinate(double low, double high) => (float)(low + (random.NextDouble() * (high - low)));
        return Enumerable.Range(0, imageCount).Select(image => Enumerable.Range(0, image == 1 ? 0 : random.Next(1, 13))
            .Select(_ =>
            {
                var x1 = Coordinate(-20, imageWidth + 10);
                var y1 = Coordinate(-20, imageHeight + 10);
                var kind = random.Next(6);
                var width = kind == 0 ? 0 : Coordinate(0, kind == 1 ? 12 : 260);
                var height = kind == 5 ? 0 : Coordinate(0, kind == 1 ? 12 : 260);
                return new[] { x1, y1, (float)(x1 + width), (float)(y1 + height) };
            }).ToArray()).ToArray();
    }
}
