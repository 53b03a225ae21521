using System.Runtime.InteropServices;

namespace FasterRcnnDistillation.Training;

/// <summary>
/// Makes glibc's malloc keep freed memory for reuse. A CPU training step allocates and frees some hundreds of MB of
/// short-lived tensors (RoIAlign's per-image products, the 4,096 pooled RoIs, their gradients). By default glibc serves
/// blocks above its mmap threshold with fresh mmaps and unmaps them on free, and trims the heap top, so every step
/// page-faults all of that memory in again (zero-filled by the kernel). With the mmap threshold fixed at its maximum
/// (32 MB), no trimming and a 256 MB top pad, those blocks are reused from the heap instead. Resident memory then stays
/// at the run's peak rather than shrinking between steps. No effect on results; does nothing off Linux/glibc.
/// </summary>
internal static class HostMemory
{
    private const int TrimThreshold = -1; // M_TRIM_THRESHOLD
    private const int TopPad = -2; // M_TOP_PAD
    private const int MmapThreshold = -3; // M_MMAP_THRESHOLD

    private static bool applied;

    /// <summary>Applies the settings once per process; true when glibc accepted them.</summary>
    public static bool KeepFreedMemory()
    {
        if (applied || !OperatingSystem.IsLinux())
        {
            return applied;
        }

        try
        {
            applied = Mallopt(MmapThreshold, 32 << 20) == 1
                & Mallopt(TrimThreshold, int.MaxValue) == 1
                & Mallopt(TopPad, 256 << 20) == 1;
        }
        catch (Exception error) when (error is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not glibc (e.g. musl without mallopt): keep the allocator's defaults.
        }

        return applied;
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int Mallopt(int parameter, int value);
}
