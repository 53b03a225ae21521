using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Masks;

/// <summary>
/// The official DeFeat level of a box (mmdetection's RoI level mapping with a canonical size c, by default 56 px,
/// mmdetection's <c>finest_scale</c>): clamp(floor(log2(sqrt((w+1)(h+1)) / c + 1e-6)), 0, L−1), w = x2−x1,
/// h = y2−y1 in pixels, so a sqrt-area below 2c px goes to level 0, 2c–4c px to level 1, 4c–8c px to level 2, and so
/// on (with c = 56: below 112 px, 112–224 px, 224–448 px, ...).
/// </summary>
/// <remarks>Public so that a custom <see cref="ObjectMaskBuilder"/> can reuse the official level assignment.</remarks>
public static class DeFeatLevelRule
{
    /// <summary>The official canonical size, mmdetection's <c>finest_scale</c> (for ~800 px inputs).</summary>
    public const double DefaultCanonicalSize = 56.0;

    private const double Epsilon = 1e-6;

    /// <summary>The level of each box.</summary>
    /// <param name="boxes">[N, 4] float64 (x1, y1, x2, y2) boxes in input-image pixels, e.g. <see cref="GroundTruthBatch.Boxes"/>.</param>
    /// <param name="levelCount">L ≥ 1, the number of levels.</param>
    /// <param name="canonicalSize">c in pixels (finite, &gt; 0).</param>
    /// <returns>[N] int64 levels in [0, L − 1], finest first, in the caller's dispose scope.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="levelCount"/> or <paramref name="canonicalSize"/> is out of range.</exception>
    public static Tensor Assign(Tensor boxes, int levelCount, double canonicalSize = DefaultCanonicalSize)
    {
        Guard.Positive(levelCount, nameof(levelCount));
        Guard.Positive(canonicalSize, nameof(canonicalSize));
        using var scope = NewDisposeScope();
        var width = boxes.select(1, 2) - boxes.select(1, 0);
        var height = boxes.select(1, 3) - boxes.select(1, 1);
        var scale = (width.add(Scalars.One, Scalars.One) * height.add(Scalars.One, Scalars.One)).sqrt();
        using var canonical = canonicalSize.ToScalar();
        using var epsilon = Epsilon.ToScalar();
        using var finestToCoarsest = (levelCount - 1).ToScalar();
        return (scale / canonical).add(epsilon, Scalars.One).log2().floor()
            .nan_to_num()
            .clamp(Scalars.Zero, finestToCoarsest)
            .to(ScalarType.Int64)
            .MoveToOuterDisposeScope();
    }
}
