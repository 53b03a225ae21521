using DeFeat.Hooks.Distillation;
using DeFeat.Testing;
using Xunit.Abstractions;

namespace DeFeat.Hooks.Tests.ScalarLifetime;

/// <summary>The package's IL keeps every Scalar alive across the native call (see tests/Shared/ScalarLifetimeScan.cs).</summary>
public class ScalarLifetimeScanTests(ITestOutputHelper output)
{
    [Fact]
    public void Library_code_keeps_every_Scalar_it_passes_alive_across_the_native_call()
        => ScalarLifetimeScan.ShouldFindNoneIn(typeof(Distiller).Assembly, nameof(HookScalars), output);
}
