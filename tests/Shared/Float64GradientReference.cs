using FluentAssertions;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Tests.Shared;

/// <summary>
/// Checks that one training step's float32 gradients are correct, not only finite: the same step is run again on a
/// float64 copy (libtorch's float64 convolutions never go through oneDNN, so they are an independent reference; see
/// docs/cpu-convolution-nan.md) and every gradient is compared normwise, max |g32 − g64| / max |g64|.
/// </summary>
internal static class Float64GradientReference
{
    /// <summary>
    /// Runs <paramref name="gradientsOf"/> once with <see cref="ScalarType.Float32"/> and once with
    /// <see cref="ScalarType.Float64"/> and asserts that the two sets of gradients (same names, same shapes) agree to
    /// <paramref name="tolerance"/> (normwise, relative to the float64 gradient's largest magnitude, or to 1e-3 of the
    /// largest over all the gradients when that is larger).
    /// </summary>
    /// <param name="what">What the step is, for the failure message.</param>
    /// <param name="gradientsOf">
    /// Builds fresh copies of the models and inputs in the given dtype, runs one forward and backward and returns each
    /// gradient by name (the tensors may be in either dtype; they are converted to float64 here).
    /// </param>
    /// <param name="tolerance">Largest normwise relative error accepted; float32 rounding is ≈ 1e-6.</param>
    /// <returns>The largest error found (for tests that want to report it).</returns>
    public static double ShouldMatch(string what, Func<ScalarType, IReadOnlyDictionary<string, Tensor>> gradientsOf, double tolerance = 1e-4)
    {
        using var scope = NewDisposeScope();
        var single = gradientsOf(ScalarType.Float32);
        var reference = gradientsOf(ScalarType.Float64);
        single.Keys.Should().BeEquivalentTo(reference.Keys, $"the float32 and float64 runs of {what} have the same gradients");
        single.Should().NotBeEmpty($"{what} must produce gradients");
        // A gradient that is zero in exact arithmetic (e.g. the bias of a convolution followed by BatchNorm) is float32
        // rounding noise on both sides, so each error is relative to its own largest magnitude or, if larger, 1e-3 of the
        // largest magnitude of all the step's gradients.
        var overall = reference.Values.Max(gradient => gradient.detach().abs().max().to(ScalarType.Float64).item<double>());
        var errors = new Dictionary<string, double>();
        foreach (var (name, gradient) in single)
        {
            var expected = reference[name].detach().to(ScalarType.Float64);
            var got = gradient.detach().to(ScalarType.Float64);
            got.shape.Should().Equal(expected.shape, $"the gradient of {name} in {what}");
            var scale = Math.Max(expected.abs().max().item<double>(), 1e-3 * overall);
            var difference = (got - expected).abs().max().item<double>();
            errors[name] = scale == 0 ? difference : difference / scale;
        }

        var wrong = errors.Where(error => !(error.Value <= tolerance)).Select(error => $"{error.Key}: {error.Value:0.0e+0}").ToList();
        wrong.Should().BeEmpty($"every float32 gradient of {what} must match the float64 run to {tolerance:0e+0} (normwise)");
        return errors.Values.Max();
    }
}
