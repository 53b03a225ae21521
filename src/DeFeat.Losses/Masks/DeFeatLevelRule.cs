using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Masks;

/// <summary>
/// The official DeFeat level of a box (mmdetection's RoI level mapping with a canonical size of 56 px):
/// clamp(floor(log2(sqrt((w+1)(h+1)) / 56 + 1e-6)), 0, L−1), w = x2−x1, h = y2−y1 in pixels, so a sqrt-area below
/// 112 px goes to level 0, 112–224 px to level 1, 224–448 px to level 2, and so on.
/// </summary>
internal static class DeFeatLevelRule
{
    private const double CanonicalSize = 56.0;
    private const double Epsilon = 1e-6;

    /// <summary>boxes: [N, 4] float64 xyxy pixels. Returns [N] int64 levels in [0, levelCount − 1].</summary>
    public static Tensor Assign(Tensor boxes, int levelCount)
    {
        using var scope = NewDisposeScope();
        var width = boxes.select(1, 2) - boxes.select(1, 0);
        var height = boxes.select(1, 3) - boxes.select(1, 1);
        var scale = ((width + 1) * (height + 1)).sqrt();
        return (scale / CanonicalSize + Epsilon).log2().floor()
            .nan_to_num()
            .clamp(0, levelCount - 1)
            .to(ScalarType.Int64)
            .MoveToOuterDisposeScope();
    }
}
