using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Masks;

/// <summary>
/// Every GT box marks every level, with the region rule of <see cref="DeFeatMaskBuilder"/>: on a level with stride s
/// and size [H, W], rows [trunc(y1/s), min(trunc(y2/s), H)) × columns [trunc(x1/s), min(trunc(x2/s), W)) are 1
/// (indices clamped to the map, so negative coordinates act as 0; an empty region marks the single cell
/// (trunc(y1/s), trunc(x1/s)) clamped into the map). No level assignment: small boxes also mark coarse levels.
/// Cost: O(N + B·H·W) per level, no loop over boxes or cells.
/// </summary>
public sealed class AllLevelsMaskBuilder : ObjectMaskBuilder
{
    /// <inheritdoc />
    protected override Tensor[] BuildLevelMasks(GroundTruthBatch groundTruth, IReadOnlyList<MaskLevel> levels)
    {
        var everyBox = ones([groundTruth.Boxes.shape[0]], ScalarType.Float32, groundTruth.Device);
        var masks = new Tensor[levels.Count];
        for (var level = 0; level < levels.Count; level++)
        {
            masks[level] = BoxCellRegions.Of(groundTruth.Boxes, levels[level])
                .Paint(groundTruth.ImageIndex, everyBox, groundTruth.ImageCount, levels[level].Size);
        }

        return masks;
    }
}
