using DeFeat.Losses.Masks;
using static DeFeat.Losses.Tests.Masks.MaskTestData;

namespace DeFeat.Losses.Tests.Masks;

public class GaussianMaskBuilderTests
{
    private static readonly FeatureMapSize[] OneLevel = [new(6, 8)];
    private static readonly double[] StrideEight = [8];

    [Fact]
    public void Region_cells_hold_the_gaussian_of_their_centre()
    {
        // Box (8, 8, 40, 32), stride 8: region rows [1, 4) × columns [1, 5); centre (c_x, c_y) = (3, 2.5) cells;
        // w/s = 4, h/s = 3 → with σ-factor 0.5: σ_x = 2, σ_y = 1.5 (2σ_x² = 8, 2σ_y² = 4.5).
        var masks = new GaussianMaskBuilder { SigmaFactor = 0.5 }.Build([Boxes([8, 8, 40, 32])], OneLevel, StrideEight);
        var values = Values(masks[0], 0);

        values[2, 3].Should().BeApproximately(Math.Exp(-((0.5 * 0.5 / 8) + 0)), 1e-6);             // (3.5, 2.5)
        values[2, 2].Should().BeApproximately(Math.Exp(-(0.5 * 0.5 / 8)), 1e-6);                    // (2.5, 2.5)
        values[1, 1].Should().BeApproximately(Math.Exp(-((1.5 * 1.5 / 8) + (1.0 / 4.5))), 1e-6);    // (1.5, 1.5)
        values[3, 4].Should().BeApproximately(Math.Exp(-((1.5 * 1.5 / 8) + (1.0 / 4.5))), 1e-6);    // (4.5, 3.5)
        values[3, 1].Should().BeApproximately(Math.Exp(-((1.5 * 1.5 / 8) + (1.0 / 4.5))), 1e-6);    // (1.5, 3.5)
        values[0, 3].Should().Be(0, "row 0 is outside the region");
        values[4, 3].Should().Be(0, "row 4 is outside the region");
        values[2, 5].Should().Be(0, "column 5 is outside the region");
        values[2, 0].Should().Be(0, "column 0 is outside the region");
        CountNonZero(values).Should().Be(12, "exactly the 3 × 4 region is non-zero");
        DisposeAll(masks);
    }

    [Fact]
    public void The_default_sigma_factor_is_one_sixth()
    {
        // Box (0, 0, 48, 48), stride 8: region 6 × 6 cells, centre (3, 3), σ = 6/6 = 1 cell. Cell (0, 0): (0.5, 0.5).
        var builder = new GaussianMaskBuilder();
        builder.SigmaFactor.Should().Be(1.0 / 6.0);
        var masks = builder.Build([Boxes([0, 0, 48, 48])], OneLevel, StrideEight);
        var values = Values(masks[0], 0);
        values[0, 0].Should().BeApproximately(Math.Exp(-((2.5 * 2.5 / 2) + (2.5 * 2.5 / 2))), 1e-9);
        values[2, 3].Should().BeApproximately(Math.Exp(-((0.5 * 0.5 / 2) + (0.5 * 0.5 / 2))), 1e-6);
        DisposeAll(masks);
    }

    [Fact]
    public void Small_boxes_use_a_sigma_of_at_least_one_cell_times_the_factor()
    {
        // Box (8, 8, 12, 20), stride 8: w/s = 0.5 → σ_x = max(0.5, 1)·1 = 1; h/s = 1.5 → σ_y = 1.5.
        // Region rows [1, 2) × columns [1, 1) is empty → single cell (1, 1) holds 1.
        // Box (24, 0, 28, 24): w/s = 0.5 → σ_x = 1; h/s = 3 → σ_y = 3; region rows [0, 3) × columns [3, 3) empty too.
        // Box (33, 16, 41, 40): columns [4, 5), rows [2, 5); w/s = 1 → σ_x = 1; h/s = 3 → σ_y = 3; centre (4.625, 3.5).
        var masks = new GaussianMaskBuilder { SigmaFactor = 1 }.Build(
            [Boxes([8, 8, 12, 20], [24, 0, 28, 24], [33, 16, 41, 40])], OneLevel, StrideEight);
        var values = Values(masks[0], 0);
        values[1, 1].Should().Be(1, "an empty region marks its single cell with 1");
        values[0, 3].Should().Be(1, "an empty region marks its single cell with 1");
        values[2, 4].Should().BeApproximately(Math.Exp(-((0.125 * 0.125 / 2) + (1.0 / 18))), 1e-6);   // (4.5, 2.5)
        values[3, 4].Should().BeApproximately(Math.Exp(-(0.125 * 0.125 / 2)), 1e-6);                  // (4.5, 3.5)
        CountNonZero(values).Should().Be(5);
        DisposeAll(masks);
    }

    [Fact]
    public void Overlapping_boxes_take_the_larger_value()
    {
        // σ-factor 0.5. Box A (0, 0, 32, 32): centre (2, 2), σ = 2 (2σ² = 8). Box B (16, 16, 48, 48): centre (4, 4), σ = 2.
        // Cell (2, 2) centre (2.5, 2.5): A → exp(−(0.25 + 0.25)/8), B → exp(−(2.25 + 2.25)/8) → A wins.
        // Cell (3, 3) centre (3.5, 3.5): A → exp(−(2.25 + 2.25)/8), B → exp(−(0.25 + 0.25)/8) → B wins.
        // Cell (2, 3) centre (3.5, 2.5): A → exp(−(2.25 + 0.25)/8), B → exp(−(0.25 + 2.25)/8): equal.
        var masks = new GaussianMaskBuilder { SigmaFactor = 0.5 }.Build([Boxes([0, 0, 32, 32], [16, 16, 48, 48])], OneLevel, StrideEight);
        var values = Values(masks[0], 0);
        values[2, 2].Should().BeApproximately(Math.Exp(-0.5 / 8), 1e-6);
        values[3, 3].Should().BeApproximately(Math.Exp(-0.5 / 8), 1e-6);
        values[2, 3].Should().BeApproximately(Math.Exp(-2.5 / 8), 1e-6);
        values[0, 0].Should().BeApproximately(Math.Exp(-(2.25 + 2.25) / 8), 1e-6);
        values[5, 5].Should().BeApproximately(Math.Exp(-(2.25 + 2.25) / 8), 1e-6);
        DisposeAll(masks);
    }

    [Fact]
    public void Each_image_gets_its_own_boxes_and_empty_images_stay_zero()
    {
        var masks = new GaussianMaskBuilder { SigmaFactor = 1 }.Build(
            [Boxes(), Boxes([0, 0, 8, 8]), Boxes([8, 0, 16, 8], [0, 8, 8, 16], [40, 40, 48, 48])], [new(2, 2)], [8]);
        // One-cell boxes: centre = cell centre → value exp(0) = 1; the third box of image 2 lies past the 2 × 2 map and
        // its empty region marks the clamped cell (1, 1).
        Grid(masks[0], 0).Should().BeEquivalentTo(ZeroGrid(2, 2));
        Grid(masks[0], 1).Should().BeEquivalentTo(new[,] { { 1, 0 }, { 0, 0 } });
        Grid(masks[0], 2).Should().BeEquivalentTo(new[,] { { 0, 1 }, { 1, 1 } });
        DisposeAll(masks);
    }

    [Fact]
    public void Random_boxes_cover_exactly_the_defeat_regions_with_values_in_zero_one()
    {
        var random = new Random(5);
        (int Height, int Width)[] sizes = [(48, 64), (24, 32), (12, 16)];
        double[] strides = [4, 8, 16];
        var boxes = DeFeatMaskBuilderTests.RandomBoxes(random, imageCount: 3, imageWidth: 256, imageHeight: 192);

        var masks = new GaussianMaskBuilder { SigmaFactor = 0.5 }.Build(
            boxes.Select(image => image.Length == 0 ? Boxes() : Boxes(image)).ToArray(),
            sizes.Select(size => new FeatureMapSize(size.Height, size.Width)).ToArray(),
            strides);
        var regions = NaiveDeFeatMaskOracle.Build(boxes, sizes, strides);

        for (var level = 0; level < sizes.Length; level++)
        {
            for (var image = 0; image < boxes.Length; image++)
            {
                var values = Values(masks[level], image);
                for (var i = 0; i < values.GetLength(0); i++)
                {
                    for (var j = 0; j < values.GetLength(1); j++)
                    {
                        values[i, j].Should().BeInRange(0, 1);
                        (values[i, j] > 0).Should().Be(regions[level][image][i, j] == 1, $"level {level}, image {image}, cell ({i}, {j})");
                    }
                }
            }
        }

        DisposeAll(masks);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-0.5)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void Sigma_factor_outside_zero_one_is_rejected(double factor)
        => FluentActions.Invoking(() => new GaussianMaskBuilder { SigmaFactor = factor })
            .Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("SigmaFactor");

    private static int CountNonZero(double[,] values) => values.Cast<double>().Count(value => value != 0);

    [Theory]
    [InlineData(56.0, 0)]
    [InlineData(14.0, 2)]
    public void The_canonical_size_moves_a_box_to_the_level_the_rule_gives(double canonicalSize, int expectedLevel)
    {
        // Box (0, 0, 59, 59): sqrt((59+1)(59+1)) = 60; log2(60/56) = 0.10 → level 0, log2(60/14) = 2.10 → level 2.
        FeatureMapSize[] sizes = [new(8, 8), new(4, 4), new(2, 2)];
        var masks = new GaussianMaskBuilder { CanonicalSize = canonicalSize }.Build([Boxes([0, 0, 59, 59])], sizes, [8, 16, 32]);

        masks.Select(mask => mask.sum().item<float>() > 0).Should().Equal(Enumerable.Range(0, 3).Select(level => level == expectedLevel));
        DisposeAll(masks);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(double.NaN)]
    public void An_invalid_canonical_size_is_rejected(double canonicalSize)
        => ShouldRejectOption(() => new GaussianMaskBuilder { CanonicalSize = canonicalSize }, "CanonicalSize", "> 0", canonicalSize);
}
