using DeFeat.Losses.Masks;
using static DeFeat.Losses.Tests.Masks.MaskTestData;

namespace DeFeat.Losses.Tests.Masks;

public class AllLevelsMaskBuilderTests
{
    [Fact]
    public void Every_box_marks_every_level_with_the_region_rule()
    {
        // Box A (12, 17, 47, 41), box B (40, 40, 40, 44) of zero width.
        // Stride 8: A → rows [2, 5) × columns [1, 5); B → single cell (5, 5).
        // Stride 16: A → rows [int(1.06), int(2.56)) = [1, 2) × columns [int(0.75), int(2.94)) = [0, 2); B → cell (2, 2).
        var masks = new AllLevelsMaskBuilder().Build([Boxes([12, 17, 47, 41], [40, 40, 40, 44])], [new(6, 8), new(3, 4)], [8, 16]);
        Grid(masks[0], 0).Should().BeEquivalentTo(new[,]
        {
            { 0, 0, 0, 0, 0, 0, 0, 0 },
            { 0, 0, 0, 0, 0, 0, 0, 0 },
            { 0, 1, 1, 1, 1, 0, 0, 0 },
            { 0, 1, 1, 1, 1, 0, 0, 0 },
            { 0, 1, 1, 1, 1, 0, 0, 0 },
            { 0, 0, 0, 0, 0, 1, 0, 0 },
        });
        Grid(masks[1], 0).Should().BeEquivalentTo(new[,]
        {
            { 0, 0, 0, 0 },
            { 1, 1, 0, 0 },
            { 0, 0, 1, 0 },
        });
        DisposeAll(masks);
    }

    [Fact]
    public void Random_boxes_match_the_per_box_slice_loops_on_all_levels()
    {
        var random = new Random(7);
        (int Height, int Width)[] sizes = [(48, 64), (24, 32), (12, 16)];
        double[] strides = [4, 8, 16];
        var boxes = DeFeatMaskBuilderTests.RandomBoxes(random, imageCount: 3, imageWidth: 256, imageHeight: 192);

        var masks = new AllLevelsMaskBuilder().Build(
            boxes.Select(image => image.Length == 0 ? Boxes() : Boxes(image)).ToArray(),
            sizes.Select(size => new FeatureMapSize(size.Height, size.Width)).ToArray(),
            strides);
        var expected = NaiveDeFeatMaskOracle.Build(boxes, sizes, strides, allLevels: true);

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
    public void Images_without_boxes_get_all_zero_masks()
    {
        var masks = new AllLevelsMaskBuilder().Build([Boxes(), Boxes([0, 0, 8, 8])], [new(2, 2)], [8]);
        Grid(masks[0], 0).Should().BeEquivalentTo(ZeroGrid(2, 2));
        Grid(masks[0], 1).Should().BeEquivalentTo(new[,] { { 1, 0 }, { 0, 0 } });
        DisposeAll(masks);
    }
}
