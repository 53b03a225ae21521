using DeFeat.Losses.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Reliability;

/// <summary>This assembly's workaround (build/OneDnnOff.cs) is in force and makes CPU convolution gradients correct.</summary>
public class OneDnnOffTests
{
    [Fact]
    public void OneDnn_is_off_and_the_check_finds_correct_gradients()
    {
        var report = CpuConvolutionCheck.Run(trials: 32);

        report.OneDnnEnabled.Should().BeFalse();
        report.Affected.Should().BeFalse(report.Advice);
        report.MaximumRelativeError.Should().BeLessThan(1e-5);
    }

    [Fact]
    public void With_oneDnn_off_a_model_with_the_faulty_head_shapes_is_checked_correct()
    {
        // 8 → 9 and 16 → 27 3×3 (RetinaNet-style class heads) and 24 → 16 3×3: the fault's shapes with oneDNN on.
        using var model = nn.Sequential(
            ("cls", nn.Conv2d(8, 9, 3, padding: 1)),
            ("retina_cls", nn.Conv2d(16, 27, 3, padding: 1)),
            ("wide", nn.Conv2d(24, 16, 3, padding: 1)));

        var report = CpuConvolutionCheck.Run(model, trials: 4);

        report.Trials.Should().Be(12);
        report.Affected.Should().BeFalse(report.Advice);
        report.MaximumRelativeError.Should().BeLessThan(1e-5);
    }
}
