using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Toys;

/// <summary>The toy RoI heads' pooling: each RoI [R, 5] (batch index, x1, y1, x2, y2) takes the feature cell under its centre.</summary>
public static class CentreCellPooling
{
    /// <summary>level [B, C, H, W] at <paramref name="stride"/> px per cell → [R, C].</summary>
    public static Tensor Pool(Tensor level, Tensor rois, double stride)
    {
        var (channels, height, width) = (level.shape[1], level.shape[2], level.shape[3]);
        var batchIndex = rois.select(1, 0).to(ScalarType.Int64);
        var x = ((rois.select(1, 1) + rois.select(1, 3)) / (2 * stride)).floor().clamp(0, width - 1).to(ScalarType.Int64);
        var y = ((rois.select(1, 2) + rois.select(1, 4)) / (2 * stride)).floor().clamp(0, height - 1).to(ScalarType.Int64);
        return level.permute(0, 2, 3, 1).reshape(-1, channels).index_select(0, (batchIndex * height * width) + (y * width) + x);
    }
}
