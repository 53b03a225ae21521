// Linked into the test assemblies that run libtorch and into the sample; not packed. See docs/cpu-convolution-nan.md
// and the README's Platform notes.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace DeFeat.Platform;

/// <summary>
/// Caps oneDNN, libtorch's CPU convolution library, at its AVX2 kernels on Linux x64 unless <c>DNNL_MAX_CPU_ISA</c> is
/// already set: its AVX-512 convolution backward was reported to return non-finite input gradients with two intra-op
/// threads on an AMD EPYC machine, and the same check capped at AVX2 was clean.
/// </summary>
/// <remarks>
/// oneDNN reads <c>DNNL_MAX_CPU_ISA</c> from the process's native environment once, at the first tensor operation that
/// reaches it (after libtorch is loaded but before any tensor operation still works; after one matmul it no longer
/// does). .NET's <c>Environment.SetEnvironmentVariable</c> does not change that environment on Linux, so this calls
/// libc's <c>setenv</c>, from a module initializer: it runs before any code of the assembly can make a torch call.
/// A value already set is kept (<c>DNNL_MAX_CPU_ISA=ALL</c> restores the AVX-512 kernels). Without AVX-512 the float32
/// kernels are the AVX2 ones anyway.
/// </remarks>
internal static class OneDnnIsaCap
{
#pragma warning disable CA2255 // a module initializer is the point: it must run before the assembly's first torch call
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Apply()
    {
        if (OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64)
        {
            _ = setenv("DNNL_MAX_CPU_ISA", "AVX2", overwrite: 0);
        }
    }

    [DllImport("libc.so.6", EntryPoint = "setenv")]
    private static extern int setenv(string name, string value, int overwrite);
}
