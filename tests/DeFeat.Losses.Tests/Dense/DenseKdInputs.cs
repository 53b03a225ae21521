using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Dense;

/// <summary>Shape of one dense-head level for generated test inputs.</summary>
internal readonly record struct DenseLevelShape(long Height, long Width, bool PerAnchorWeights = false);

/// <summary>Random inputs for the dense KD tests (owned by the caller's dispose scope).</summary>
internal static class DenseKdInputs
{
    /// <summary>
    /// Logits N(0, 2²) [B, A·K, H, W] for student and teacher, and weights per level: per location [B, H, W] or per
    /// anchor [B, A, H, W]; soft (uniform in [0, 1]) or 0/1 (30 % ones).
    /// </summary>
    public static (Tensor[] Students, Tensor[] Teachers, Tensor[] Weights) Random(
        long batch, long anchors, long classes, ScalarType dtype, bool softWeights, params DenseLevelShape[] levels)
    {
        var students = levels.Select(l => (torch.randn(batch, anchors * classes, l.Height, l.Width, dtype: ScalarType.Float64) * 2).to_type(dtype)).ToArray();
        var teachers = levels.Select(l => (torch.randn(batch, anchors * classes, l.Height, l.Width, dtype: ScalarType.Float64) * 2).to_type(dtype)).ToArray();
        var weights = levels
            .Select(l =>
            {
                long[] shape = l.PerAnchorWeights ? [batch, anchors, l.Height, l.Width] : [batch, l.Height, l.Width];
                return softWeights ? torch.rand(shape, dtype: dtype) : (torch.rand(shape) < 0.3).to_type(dtype);
            })
            .ToArray();
        return (students, teachers, weights);
    }
}
