using FluentAssertions;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Tests.Shared;

/// <summary>
/// Assertions for tests that train: a NaN or infinite loss or gradient fails the test at the step that produced it,
/// instead of the test going on to train on NaN (see docs/cpu-convolution-nan.md). Linked into each test project that
/// trains; the temporaries they make are disposed before they return, so live-tensor counts are not affected.
/// </summary>
internal static class TrainingChecks
{
    /// <summary>Asserts that every scalar loss in <paramref name="losses"/> is finite.</summary>
    public static void LossesShouldBeFinite(string when, params (string Name, Tensor Loss)[] losses)
    {
        using var scope = NewDisposeScope();
        foreach (var (name, loss) in losses)
        {
            var value = loss.detach().cpu().to(ScalarType.Float64).item<double>();
            double.IsFinite(value).Should().BeTrue($"the {name} loss {when} must be finite, got {value}");
        }
    }

    /// <summary>
    /// Asserts that the gradient of every tensor in <paramref name="tensors"/> that has one is finite, and that at least
    /// one has a gradient (so the check cannot pass vacuously).
    /// </summary>
    public static void GradientsShouldBeFinite<T>(string when, IEnumerable<(string Name, T Tensor)> tensors)
        where T : Tensor
    {
        using var scope = NewDisposeScope();
        var withGradient = tensors.Where(item => item.Tensor.grad is not null).ToList();
        withGradient.Should().NotBeEmpty($"training must produce gradients {when}");
        var nonFinite = withGradient.Where(item => !item.Tensor.grad!.isfinite().all().item<bool>()).Select(item => item.Name);
        nonFinite.Should().BeEmpty($"every gradient {when} must be finite");
    }

    /// <summary>Asserts that every value of every tensor in <paramref name="tensors"/> (e.g. trained weights) is finite.</summary>
    public static void ValuesShouldBeFinite<T>(string when, IEnumerable<(string Name, T Tensor)> tensors)
        where T : Tensor
    {
        using var scope = NewDisposeScope();
        var nonFinite = tensors.Where(item => !item.Tensor.isfinite().all().item<bool>()).Select(item => item.Name);
        nonFinite.Should().BeEmpty($"every value {when} must be finite");
    }
}
