using DeFeat.Losses.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Platform;

/// <summary>The one-call check with oneDNN as this process has it (on: this assembly applies no workaround).</summary>
public class CpuConvolutionCheckTests
{
    [Fact]
    public void The_report_is_consistent_and_its_advice_names_the_switch_when_affected()
    {
        var report = CpuConvolutionCheck.Run(trials: 8);

        report.Trials.Should().Be(8);
        report.Affected.Should().Be(report.WrongTrials > 0);
        report.OneDnnEnabled.Should().BeTrue("nothing in this test assembly turns it off");
        report.Advice.Should().Contain(report.Affected ? "CpuConvolutionCheck.DisableOneDnn()" : "correct");
        new CpuConvolutionReport(true, 16, 5, 0.8, true).Advice.Should().StartWith("CPU convolution gradients are WRONG in this process (5 of 16 trials");
        new CpuConvolutionReport(false, 16, 0, 1e-7, false).Advice.Should().Be("CPU convolution gradients are correct in this process (16 trials, oneDNN off).");
        FluentActions.Invoking(() => CpuConvolutionCheck.Run(0)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("trials");
    }

    [Fact]
    public void A_models_check_runs_each_distinct_convolution_and_finds_nothing_wrong_in_shapes_outside_the_fault()
    {
        // 16 → 16 3×3 twice (one distinct shape), 16 → 32 1×1 stride 2, 3 → 16 3×3 stride 2 (a stem): channel counts
        // that are multiples of 16, 1×1, or few inputs with stride 2, outside the fault's envelope on every machine measured.
        using var model = nn.Sequential(
            ("stem", nn.Conv2d(3, 16, 3, stride: 2, padding: 1)),
            ("a", nn.Conv2d(16, 16, 3, padding: 1)),
            ("b", nn.Conv2d(16, 16, 3, padding: 1)),
            ("down", nn.Conv2d(16, 32, 1, stride: 2)));

        var report = CpuConvolutionCheck.Run(model, trials: 2);

        report.Trials.Should().Be(3 * 2);
        report.Affected.Should().BeFalse(report.Advice);
        report.WrongConvolutions.Should().BeEmpty();
        report.MaximumRelativeError.Should().BeLessThan(1e-5);
        report.Advice.Should().Be("CPU convolution gradients are correct in this process (6 trials, oneDNN on).");
    }

    [Fact]
    public void A_models_report_names_the_wrong_convolutions_and_bad_arguments_are_named()
    {
        var report = new CpuConvolutionReport(true, 8, 3, 0.9, true) { WrongConvolutions = ["'head.cls' (8 → 9 channels, 3×3, stride 1, padding 1)"] };

        report.Advice.Should().StartWith("CPU convolutions of this model are WRONG in this process ('head.cls' (8 → 9 channels, 3×3, stride 1, padding 1); 3 of 8 trials, oneDNN on)")
            .And.Contain("CpuConvolutionCheck.DisableOneDnn()");
        FluentActions.Invoking(() => CpuConvolutionCheck.Run(null!, 1)).Should().Throw<ArgumentNullException>().WithParameterName("model");
        using var model = nn.Conv2d(1, 1, 1);
        FluentActions.Invoking(() => CpuConvolutionCheck.Run(model, 0)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("trials");
    }
}
