using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Masks;

/// <summary>
/// The official DeFeat rule (the default builder): each GT box marks only the one level chosen by its size,
/// clamp(floor(log2(sqrt((w+1)(h+1)) / c + 1e-6)), 0, L−1) with w = x2−x1, h = y2−y1 in pixels and
/// c = <see cref="CanonicalSize"/> (sqrt-area below 2c px → level 0, 2c–4c px → level 1, 4c–8c px → level 2, ...;
/// with the default c = 56: below 112 px, 112–224 px, 224–448 px, ...; levels ordered finest first).
/// On its level a box sets to 1 the cells of its region under the official region rule, documented (with its
/// deliberate differences from the official code) on <see cref="BoxCellRegions"/>; everything else is 0.
/// Cost: O(N + B·H·W) per level (2-D difference array), no loop over boxes or cells.
/// </summary>
public sealed class DeFeatMaskBuilder : ObjectMaskBuilder
{
    /// <summary>
    /// The canonical size c of the level rule, in input-image pixels (finite, &gt; 0): a box whose sqrt-area
    /// sqrt((w+1)(h+1)) is below 2c goes to level 0, and each doubling of it moves one level coarser. Default 56,
    /// mmdetection's <c>finest_scale</c> and the official DeFeat value, which assumes COCO-sized inputs (~800 px).
    /// For inputs whose shorter side is S px, use about 56·S/800 to keep the same relative level assignment
    /// (≈ 18 for 256 px inputs): with 56 at 256 px practically every object lands on the two finest levels (only a
    /// box of sqrt-area ≥ 224 px, nearly the whole image, reaches the third) and the coarser levels are imitated as
    /// pure background.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a finite number &gt; 0.</exception>
    public double CanonicalSize
    {
        get;
        init => field = Guard.Positive(value, nameof(CanonicalSize));
    } = DeFeatLevelRule.DefaultCanonicalSize;

    /// <inheritdoc />
    protected override Tensor[] BuildLevelMasks(GroundTruthBatch groundTruth, IReadOnlyList<MaskLevel> levels)
    {
        var boxLevels = DeFeatLevelRule.Assign(groundTruth.Boxes, levels.Count, CanonicalSize);
        var masks = new Tensor[levels.Count];
        for (var level = 0; level < levels.Count; level++)
        {
            using var levelIndex = level.ToScalar();
            var onThisLevel = boxLevels.eq(levelIndex).to(ScalarType.Float32);
            masks[level] = BoxCellRegions.Of(groundTruth.Boxes, levels[level])
                .Paint(groundTruth.ImageIndex, onThisLevel, groundTruth.ImageCount, levels[level].Size);
        }

        return masks;
    }
}
