using static TorchSharp.torch;

namespace DeFeat.Benchmarks.Workloads;

/// <summary>
/// Checks, once per benchmark case (in its global setup), that the official-algorithm port and our implementation
/// compute the same numbers, so the two timed methods do the same work.
/// </summary>
internal static class Agreement
{
    /// <summary>Both 0-D losses agree to <paramref name="relativeTolerance"/> (ours may be float32, the port float64).</summary>
    public static void Scalars(string what, Tensor official, Tensor ours, double relativeTolerance)
    {
        var expected = official.to_type(ScalarType.Float64).cpu().item<double>();
        var actual = ours.to_type(ScalarType.Float64).cpu().item<double>();
        if (Math.Abs(expected - actual) > relativeTolerance * Math.Max(Math.Abs(expected), 1e-12))
        {
            throw new InvalidOperationException(
                $"{what}: the official-algorithm port gives {expected:R}, ours {actual:R} (relative tolerance {relativeTolerance}).");
        }
    }

    /// <summary>Both masks are identical 0/1 maps of the same shape.</summary>
    public static void Masks(string what, Tensor official, Tensor ours)
    {
        if (!official.shape.SequenceEqual(ours.shape))
        {
            throw new InvalidOperationException(
                $"{what}: shapes differ, official [{string.Join(", ", official.shape)}], ours [{string.Join(", ", ours.shape)}].");
        }

        var differing = official.to_type(ScalarType.Float32).ne(ours.to_type(ScalarType.Float32)).sum().cpu().item<long>();
        if (differing != 0)
        {
            throw new InvalidOperationException($"{what}: {differing} cells differ between the official-algorithm port and ours.");
        }
    }
}
