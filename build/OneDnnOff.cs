// Linked into the test assemblies whose toy models have 3x3 convolutions with output channel counts that are not a
// multiple of 16 (kept as written: they stand for users' models); not packed. See docs/cpu-convolution-nan.md.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using DeFeat.Losses.Platform;

namespace DeFeat.Platform;

/// <summary>
/// Turns libtorch's oneDNN CPU convolutions off for the whole test process before any test runs: its 3×3 stride-1
/// backward returns wrong (sometimes NaN) input gradients when the output channel count is not a multiple of 16
/// (AVX-512 machines, with or without the AVX2 cap), and the toys' heads and necks have such convolutions.
/// </summary>
internal static class OneDnnOff
{
#pragma warning disable CA2255 // a module initializer is the point: it must run before the assembly's first convolution
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Apply()
    {
        if (OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64)
        {
            CpuConvolutionCheck.DisableOneDnn();
        }
    }
}
