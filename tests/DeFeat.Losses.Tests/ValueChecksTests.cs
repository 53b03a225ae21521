using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests;

public class ValueChecksTests
{
    [Theory]
    [InlineData(null, DeviceType.CPU, true)]
    [InlineData(true, DeviceType.CPU, true)]
    [InlineData(false, DeviceType.CPU, false)]
    [InlineData(null, DeviceType.META, false)]
    [InlineData(true, DeviceType.META, true)]
    [InlineData(false, DeviceType.META, false)]
    public void Unset_checks_run_on_the_cpu_only_and_a_setting_overrides_the_device(bool? setting, DeviceType device, bool expected)
    {
        using var tensor = zeros([1], device: new Device(device));

        ValueChecks.Enabled(setting, tensor).Should().Be(expected);
    }
}
