using DeFeat.Losses.Platform;

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
}
