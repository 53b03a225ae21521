using DeFeat.Losses.Platform;

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
}
