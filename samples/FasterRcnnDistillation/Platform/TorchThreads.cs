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
    /// Cores busy with other work over <see cref="Window"/>, from two reads of <c>/proc/stat</c> and of the CPU time of this
    /// process and of its parent (its own JIT and GC threads, and <c>dotnet run</c> finishing its work, are not other work):
    /// neither idle, nor waiting for I/O, nor running niced (lower-priority) work, which yields its cores to this process;
    /// null where they do not exist.
    /// </summary>
    private static double? BusyCores()
    {
        if (ReadTotals() is not { } before || OwnTicks() is not { } ownBefore)
        {
            return null;
        }

        Thread.Sleep(Window);
        if (ReadTotals() is not { } after || OwnTicks() is not { } ownAfter || after.Total <= before.Total)
        {
            return null;
        }

        // /proc/stat sums all CPUs; one CPU's share of the window is (total ticks) / cores.
        var busyTicks = (after.Total - before.Total) - (after.Available - before.Available) - (ownAfter - ownBefore);
        var cores = Environment.ProcessorCount;
        return Math.Clamp(busyTicks * cores / (double)(after.Total - before.Total), 0, cores);
    }

    /// <summary>
    /// The user + system CPU time, in clock ticks, of this process and of its parent (fields 14 and 15 of
    /// <c>/proc/[pid]/stat</c>, counted after the command name; the parent is field 4).
    /// </summary>
    private static long? OwnTicks()
    {
        try
        {
            var own = StatFields("self");
            var parent = StatFields(own[1]);
            return Ticks(own) + Ticks(parent);
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

    /// <summary>The fields of <c>/proc/[process]/stat</c> after the command name (the first is field 3, the state).</summary>
    private static string[] StatFields(string process)
    {
        var line = File.ReadAllText($"/proc/{process}/stat");
        return line[(line.LastIndexOf(')') + 2)..].Split(' ');
    }

    private static long Ticks(string[] fields) => long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);

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
