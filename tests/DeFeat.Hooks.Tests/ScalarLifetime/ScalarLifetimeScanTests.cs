using DeFeat.Hooks.Distillation;
using DeFeat.Testing;
using Xunit.Abstractions;

namespace DeFeat.Hooks.Tests.ScalarLifetime;

/// <summary>The package's IL keeps every Scalar alive across the native call (see tests/Shared/ScalarLifetimeScan.cs).</summary>
public class ScalarLifetimeScanTests(ITestOutputHelper output)
{
    [Fact]
    public void Library_code_keeps_every_Scalar_it_passes_alive_across_the_native_call()
    {
        var findings = ScalarLifetimeScan.Find(typeof(DeFeatDistiller).Assembly.GetTypes());
        foreach (var finding in findings)
        {
            output.WriteLine(finding);
        }

        findings.Should().BeEmpty("a Scalar nothing keeps alive can be finalised during the native call that reads it "
            + "(TorchSharp #1434, #1496): use HookScalars or `using var s = value.ToScalar();`, and add(other, alpha) "
            + "instead of `+`");
    }
}
