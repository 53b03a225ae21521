using DeFeat.Losses.Masks;
using TorchSharp;
using static DeFeat.Losses.Tests.Masks.MaskTestData;

namespace DeFeat.Losses.Tests.Masks;

public class AnchorIouMaskBuilderTests
{
    private static readonly AnchorIouMaskOptions SquareAnchorsOfTwoStrides = new() { Scales = [2], Ratios = [1] };

    [Fact]
    public void One_level_one_anchor_marks_the_cells_above_half_the_best_iou()
    {
        // Stride 8, 4 × 4 cells, one square anchor of side 16 centred on (8j, 8i). GT (0, 0, 16, 16):
        // anchor (1, 1) = [0, 16]² → IoU 1 = the best; (0, 1), (1, 0), (1, 2), (2, 1): 128 / 384 = 1/3;
        // (0, 0), (0, 2), (2, 0), (2, 2): 64 / 448 = 1/7; the rest 0.
        var builder = new AnchorIouMaskBuilder(SquareAnchorsOfTwoStrides);
        var masks = builder.Build([Boxes([0, 0, 16, 16])], [new(4, 4)], [8]);
        Grid(masks[0], 0).Should().BeEquivalentTo(new[,]
        {
            { 0, 0, 0, 0 },
            { 0, 1, 0, 0 },
            { 0, 0, 0, 0 },
            { 0, 0, 0, 0 },
        }, "only IoU 1 > 0.5 · 1");
        DisposeAll(masks);

        var looser = new AnchorIouMaskBuilder(SquareAnchorsOfTwoStrides with { IouFactor = 0.3 });
        masks = looser.Build([Boxes([0, 0, 16, 16])], [new(4, 4)], [8]);
        Grid(masks[0], 0).Should().BeEquivalentTo(new[,]
        {
            { 0, 1, 0, 0 },
            { 1, 1, 1, 0 },
            { 0, 1, 0, 0 },
            { 0, 0, 0, 0 },
        }, "IoU 1/3 > 0.3 but 1/7 is not");
        DisposeAll(masks);
    }

    [Fact]
    public void The_best_iou_is_taken_over_all_levels()
    {
        // GT (0, 0, 32, 32). Stride 16 (2 × 2, anchor side 32): anchor (1, 1) = [0, 32]² → IoU 1 = the best;
        // (0, 1), (1, 0): 512 / 1536 = 1/3; (0, 0): 256 / 1792 = 1/7.
        // Stride 8 (4 × 4, anchor side 16): anchors inside the GT (centres 8..24) → 256 / 1024 = 1/4;
        // an anchor cut once by the GT border 128 / 1152 = 1/9, less elsewhere.
        // φ = 0.5: only the stride-16 anchor (1, 1). φ = 0.2: also the 1/3 and 1/4 anchors.
        FeatureMapSize[] sizes = [new(4, 4), new(2, 2)];
        var strict = new AnchorIouMaskBuilder(SquareAnchorsOfTwoStrides).Build([Boxes([0, 0, 32, 32])], sizes, [8, 16]);
        Grid(strict[0], 0).Should().BeEquivalentTo(ZeroGrid(4, 4));
        Grid(strict[1], 0).Should().BeEquivalentTo(new[,] { { 0, 0 }, { 0, 1 } });
        DisposeAll(strict);

        var loose = new AnchorIouMaskBuilder(SquareAnchorsOfTwoStrides with { IouFactor = 0.2 })
            .Build([Boxes(), Boxes([0, 0, 32, 32])], sizes, [8, 16]);
        Grid(loose[0], 1).Should().BeEquivalentTo(new[,]
        {
            { 0, 0, 0, 0 },
            { 0, 1, 1, 1 },
            { 0, 1, 1, 1 },
            { 0, 1, 1, 1 },
        });
        Grid(loose[1], 1).Should().BeEquivalentTo(new[,] { { 0, 1 }, { 1, 1 } });
        Grid(loose[0], 0).Should().BeEquivalentTo(ZeroGrid(4, 4), "image 0 has no boxes");
        Grid(loose[1], 0).Should().BeEquivalentTo(ZeroGrid(2, 2), "image 0 has no boxes");
        DisposeAll(loose);
    }

    [Fact]
    public void The_centre_offset_moves_the_anchors_and_so_the_marked_cells()
    {
        // Stride 8, 4 × 4 cells, one square anchor of side 16, φ = 0.5, GT (4, 4, 20, 20).
        // Offset 0 (centres 8j, anchors [8j − 8, 8j + 8]): per axis the overlap with [4, 20] is 4, 12, 12, 4 for
        // j = 0..3, so the best IoU is 144 / (256 + 256 − 144) = 144/368 at cells (1..2, 1..2); (1, 0) etc.:
        // 48 / 464 ≈ 0.10 < 0.5 · 0.39.
        // Offset 0.5 (centres 8j + 4, anchors [8j − 4, 8j + 12]): anchor (1, 1) = [4, 20]² → IoU 1; (0, 1), (1, 0),
        // (1, 2), (2, 1): 128 / 384 = 1/3, not > 0.5.
        int[,] Marked(AnchorIouMaskOptions options)
        {
            var masks = new AnchorIouMaskBuilder(options).Build([Boxes([4, 4, 20, 20])], [new(4, 4)], [8]);
            var grid = Grid(masks[0], 0);
            DisposeAll(masks);
            return grid;
        }

        var offsetZero = new[,]
        {
            { 0, 0, 0, 0 },
            { 0, 1, 1, 0 },
            { 0, 1, 1, 0 },
            { 0, 0, 0, 0 },
        };
        Marked(SquareAnchorsOfTwoStrides with { CenterOffset = 0 }).Should().BeEquivalentTo(offsetZero);
        Marked(SquareAnchorsOfTwoStrides).Should().BeEquivalentTo(offsetZero, "the default offset is 0");
        Marked(SquareAnchorsOfTwoStrides with { CenterOffset = 0.5 }).Should().BeEquivalentTo(new[,]
        {
            { 0, 0, 0, 0 },
            { 0, 1, 0, 0 },
            { 0, 0, 0, 0 },
            { 0, 0, 0, 0 },
        });
    }

    [Fact]
    public void A_box_overlapping_no_anchor_marks_nothing()
    {
        // Anchors of side 16 centred on (0..24, 0..24) reach 32 at most; the GT starts at 100.
        var masks = new AnchorIouMaskBuilder(SquareAnchorsOfTwoStrides).Build([Boxes([100, 100, 120, 120])], [new(4, 4)], [8]);
        Grid(masks[0], 0).Should().BeEquivalentTo(ZeroGrid(4, 4));
        DisposeAll(masks);
    }

    [Theory]
    [InlineData(11, 0.0)]
    [InlineData(12, 0.0)]
    [InlineData(13, 0.5)]
    [InlineData(14, 0.25)]
    public void Random_boxes_match_a_naive_anchor_loop(int seed, double centerOffset)
    {
        var random = new Random(seed);
        var options = new AnchorIouMaskOptions { Scales = [2, 3], Ratios = [0.5, 1, 2], IouFactor = 0.5, CenterOffset = centerOffset };
        (int Height, int Width)[] sizes = [(12, 16), (6, 8)];
        double[] strides = [8, 16];
        var boxes = DeFeatMaskBuilderTests.RandomBoxes(random, imageCount: 3, imageWidth: 128, imageHeight: 96);

        var masks = new AnchorIouMaskBuilder(options).Build(
            boxes.Select(image => image.Length == 0 ? Boxes() : Boxes(image)).ToArray(),
            sizes.Select(size => new FeatureMapSize(size.Height, size.Width)).ToArray(),
            strides);
        masks.Sum(mask => mask.sum().ToSingle()).Should().BeGreaterThan(0, "the comparison must not be vacuous");

        for (var image = 0; image < boxes.Length; image++)
        {
            var expected = NaiveMasks(boxes[image], sizes, strides, options);
            for (var level = 0; level < sizes.Length; level++)
            {
                Values(masks[level], image).Should().BeEquivalentTo(expected[level], $"level {level}, image {image}");
            }
        }

        DisposeAll(masks);
    }

    [Fact]
    public void Options_copy_their_lists_and_check_their_values()
    {
        var scales = new[] { 8.0 };
        var options = new AnchorIouMaskOptions { Scales = scales };
        scales[0] = 100;
        options.Scales.Should().Equal(8.0);

        FluentActions.Invoking(() => new AnchorIouMaskOptions { Scales = [] }).Should().Throw<ArgumentException>()
            .Which.ParamName.Should().Be("Scales");
        FluentActions.Invoking(() => new AnchorIouMaskOptions { Ratios = [1, -2] }).Should().Throw<ArgumentOutOfRangeException>()
            .Which.ParamName.Should().Be("Ratios[1]");
        FluentActions.Invoking(() => new AnchorIouMaskOptions { IouFactor = 0 }).Should().Throw<ArgumentOutOfRangeException>()
            .Which.ParamName.Should().Be("IouFactor");
        FluentActions.Invoking(() => new AnchorIouMaskOptions { IouFactor = 1.5 }).Should().Throw<ArgumentOutOfRangeException>()
            .Which.ParamName.Should().Be("IouFactor");
        new AnchorIouMaskOptions { IouFactor = 1 }.IouFactor.Should().Be(1);
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void A_centre_offset_outside_0_to_1_is_rejected(double centerOffset)
        => ShouldRejectOption(() => new AnchorIouMaskOptions { CenterOffset = centerOffset }, "CenterOffset", "[0, 1]", centerOffset);

    [Fact]
    public void The_centre_offset_defaults_to_0_and_accepts_both_ends()
    {
        AnchorIouMaskOptions.FasterRcnn.CenterOffset.Should().Be(0);
        AnchorIouMaskOptions.RetinaNet.CenterOffset.Should().Be(0);
        new AnchorIouMaskOptions { CenterOffset = 0 }.CenterOffset.Should().Be(0);
        new AnchorIouMaskOptions { CenterOffset = 1 }.CenterOffset.Should().Be(1);
    }

    [Fact]
    public void Presets_follow_mmdetection_v2()
    {
        AnchorIouMaskOptions.FasterRcnn.Scales.Should().Equal(8.0);
        AnchorIouMaskOptions.FasterRcnn.Ratios.Should().Equal(0.5, 1.0, 2.0);
        AnchorIouMaskOptions.RetinaNet.Scales.Should().HaveCount(3);
        AnchorIouMaskOptions.RetinaNet.Scales[0].Should().Be(4);
        AnchorIouMaskOptions.RetinaNet.Scales[1].Should().BeApproximately(5.0397, 1e-4); // 4 · 2^(1/3)
        AnchorIouMaskOptions.RetinaNet.Scales[2].Should().BeApproximately(6.3496, 1e-4); // 4 · 2^(2/3)
        new AnchorIouMaskBuilder().Options.Should().BeSameAs(AnchorIouMaskOptions.FasterRcnn);
    }

    /// <summary>FGFI with plain loops: every anchor of every level against every GT of one image, in double.</summary>
    private static double[][,] NaiveMasks(double[][] boxes, (int Height, int Width)[] sizes, double[] strides, AnchorIouMaskOptions options)
    {
        var anchors = new List<(int Level, int Row, int Column, double[] Box)>();
        for (var level = 0; level < sizes.Length; level++)
        {
            var s = strides[level];
            for (var row = 0; row < sizes[level].Height; row++)
            {
                for (var column = 0; column < sizes[level].Width; column++)
                {
                    foreach (var ratio in options.Ratios)
                    {
                        foreach (var scale in options.Scales)
                        {
                            var width = s * scale / Math.Sqrt(ratio);
                            var height = s * scale * Math.Sqrt(ratio);
                            var (x, y) = ((column + options.CenterOffset) * s, (row + options.CenterOffset) * s);
                            double[] anchor = [x - (width / 2), y - (height / 2), x + (width / 2), y + (height / 2)];
                            anchors.Add((level, row, column, anchor));
                        }
                    }
                }
            }
        }

        var masks = sizes.Select(size => new double[size.Height, size.Width]).ToArray();
        foreach (var box in boxes)
        {
            var best = anchors.Max(anchor => Iou(box, anchor.Box));
            foreach (var anchor in anchors.Where(anchor => Iou(box, anchor.Box) > options.IouFactor * best))
            {
                masks[anchor.Level][anchor.Row, anchor.Column] = 1;
            }
        }

        return masks;
    }

    private static double Iou(double[] a, double[] b)
    {
        var width = Math.Max(0, Math.Min(a[2], b[2]) - Math.Max(a[0], b[0]));
        var height = Math.Max(0, Math.Min(a[3], b[3]) - Math.Max(a[1], b[1]));
        var intersection = width * height;
        var union = ((a[2] - a[0]) * (a[3] - a[1])) + ((b[2] - b[0]) * (b[3] - b[1])) - intersection;
        return intersection / union;
    }
}
