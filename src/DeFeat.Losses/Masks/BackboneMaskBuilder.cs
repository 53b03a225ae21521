using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Masks;

/// <summary>
/// The official rule for backbone stages (DeFeat's <c>bb-decouple</c>, <c>get_bb_gt_mask</c>): one mask per image in
/// which every GT box, whatever its size (no level assignment), marks its cells on a grid of stride
/// <see cref="GridStride"/> (the finest FPN level's, 4 px by default) under the same region rule as
/// <see cref="DeFeatMaskBuilder"/>; that mask is then resized to each stage's H_l × W_l by nearest-neighbour
/// interpolation (PyTorch's <c>nearest</c>: cell i of the stage takes grid cell floor(i·H_grid / H_l)).
/// </summary>
/// <remarks>
/// The grid covers the input image: H_grid × W_grid = round(H_0·s_0 / GridStride) × round(W_0·s_0 / GridStride) from the
/// first level given (size in cells × stride). Values are 0/1 float32. Use it for the backbone terms of the authors' COCO
/// recipe (stages 3–4); the neck keeps <see cref="DeFeatMaskBuilder"/>.
/// </remarks>
public sealed class BackboneMaskBuilder : ObjectMaskBuilder
{
    /// <summary>
    /// The stride of the grid the boxes are painted on, in input-image pixels per cell (finite, &gt; 0); default 4,
    /// the finest FPN level of the official detectors.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a finite number &gt; 0.</exception>
    public double GridStride
    {
        get;
        init => field = Guard.Positive(value, nameof(GridStride));
    } = 4.0;

    /// <inheritdoc />
    protected override Tensor[] BuildLevelMasks(GroundTruthBatch groundTruth, IReadOnlyList<MaskLevel> levels)
    {
        var first = levels[0];
        var grid = new MaskLevel(
            new FeatureMapSize(
                Math.Max(1, (int)Math.Round(first.Size.Height * first.Stride / GridStride)),
                Math.Max(1, (int)Math.Round(first.Size.Width * first.Stride / GridStride))),
            GridStride);
        var everyBox = ones([groundTruth.Boxes.shape[0]], ScalarType.Float32, groundTruth.Device);
        var painted = BoxCellRegions.Of(groundTruth.Boxes, grid)
            .Paint(groundTruth.ImageIndex, everyBox, groundTruth.ImageCount, grid.Size)
            .unsqueeze(1);
        return levels
            .Select(level => nn.functional.interpolate(painted, [level.Size.Height, level.Size.Width], mode: InterpolationMode.Nearest).squeeze(1))
            .ToArray();
    }
}
