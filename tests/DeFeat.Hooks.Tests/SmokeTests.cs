using TorchSharp;

namespace DeFeat.Hooks.Tests;

public class SmokeTests
{
    [Fact]
    public void TorchSharp_runs_in_the_test_host()
        => torch.ones(2, 3).sum().ToSingle().Should().Be(6f);
}
