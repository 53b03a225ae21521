using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Masks;

/// <summary>
/// The official DeFeat rule (the default builder): each GT box marks only the one level chosen by its size,
/// clamp(floor(log2(sqrt((w+1)(h+1)) / 56 + 1e-6)), 0, L−1) with w = x2−x1, h = y2−y1 in pixels (sqrt-area below
/// 112 px → level 0, 112–224 px → level 1, 224–448 px → level 2, ...; levels ordered finest first).
/// On its level with stride s and size [H, W] a box sets to 1 the cells of rows [trunc(y1/s), min(trunc(y2/s), H))
/// and columns [trunc(x1/s), min(trunc(x2/s), W)); everything else is 0.
/// Deliberate differences from the official code: cell indices are clamped to the map first, so negative
/// coordinates act as 0 (the official slicing would wrap around); a box whose region is empty (zero width or height
/// after truncation, or lying past the map) marks the single cell (trunc(y1/s), trunc(x1/s)) clamped into the map
/// (the official code can index out of bounds there).
/// Cost: O(N + B·H·W) per level (2-D difference array), no loop over boxes or cells.
/// </summary>
public sealed class DeFeatMaskBuilder : ObjectMaskBuilder
{
    /// <inheritdoc />
    protected override Tensor[] BuildLevelMasks(GroundTruthBatch groundTruth, IReadOnlyList<MaskLevel> levels)
    {
        var boxLevels = DeFeatLevelRule.Assign(groundTruth.Boxes, levels.Count);
        var masks = new Tensor[levels.Count];
        for (var level = 0; level < levels.Count; level++)
        {
            var onThisLevel = boxLevels.eq(level).to(ScalarType.Float32);
            masks[level] = BoxCellRegions.Of(groundTruth.Boxes, levels[level])
                .Paint(groundTruth.ImageIndex, onThisLevel, groundTruth.ImageCount, levels[level].Size);
        }

        return masks;
    }
}
