using System.Globalization;

namespace FasterRcnnDistillation.Platform;

/// <summary>
/// Chooses the number of torch threads at start-up: the cores that are idle then (at least 1), unless
/// <c>--threads N</c> or <c>OMP_NUM_THREADS</c> fixes it. On a shared machine libtorch's OpenMP threads wait for each
/// other at every parallel operation, spinning; when another process holds a core, a thread that waits for the one
/// that lost its core burns the other core: next to one busy process a 2-thread step of the student took 2.4× as long
/// as with 1 thread (RESULTS.md, "Sharing the machine"). The count is fixed for the run (the summation order, and so the
/// results to the last digits, depend on it) and printed.
/// </summary>
internal static class TorchThreads
{
    /// <summary>How long the start-up look at the machine's load lasts.</summary>
    private static readonly TimeSpan Window = TimeSpan.FromMilliseconds(300);

    /// <summary>Sets the thread count and returns the one line that says what was chosen and why.</summary>
    /// <param name="requested">The <c>--threads</c> value; null = auto.</param>
    public static string Choose(int? requested)
    {
        var cores = Environment.ProcessorCount;
        if (requested is { } count)
        {
            TorchSharp.torch.set_num_threads(count);
            return $"torch threads: {count} (--threads).";
        }

        if (Environment.GetEnvironmentVariable("OMP_NUM_THREADS") is { Length: > 0 } fixedCount)
        {
            return $"torch threads: {TorchSharp.torch.get_num_threads()} (OMP_NUM_THREADS={fixedCount}).";
        }

        if (BusyCores() is not { } busy)
        {
            return $"torch threads: {TorchSharp.torch.get_num_threads()} (libtorch's default; this system has no /proc/stat to read the load from).";
        }

        var chosen = Math.Max(1, cores - (int)Math.Round(busy));
        TorchSharp.torch.set_num_threads(chosen);
        return string.Create(CultureInfo.InvariantCulture,
            $"torch threads: {chosen} of {cores} cores ({busy:0.0} busy with other work at start-up; --threads N fixes the count).");
    }

    /// <summary>
    /// Cores busy with other work over <see cref="Window"/>, from two reads of <c>/proc/stat</c>: neither idle, nor waiting
    /// for I/O, nor running niced (lower-priority) work, which yields its cores to this process; null where it does not exist.
    /// </summary>
    private static double? BusyCores()
    {
        if (ReadTotals() is not { } before)
        {
            return null;
        }

        Thread.Sleep(Window);
        if (ReadTotals() is not { } after || after.Total <= before.Total)
        {
            return null;
        }

        var busyShare = 1.0 - ((after.Available - before.Available) / (double)(after.Total - before.Total));
        return Math.Clamp(busyShare, 0, 1) * Environment.ProcessorCount;
    }

    /// <summary>The first line of /proc/stat: total and available (idle + iowait + nice) jiffies of all CPUs.</summary>
    private static (long Total, long Available)? ReadTotals()
    {
        try
        {
            var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8)
                .Select(field => long.Parse(field, CultureInfo.InvariantCulture)).ToArray();
            return (fields.Sum(), fields[1] + fields[3] + fields[4]);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
