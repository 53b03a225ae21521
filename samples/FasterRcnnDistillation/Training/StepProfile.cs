using System.Diagnostics;
using System.Globalization;

namespace FasterRcnnDistillation.Training;

/// <summary>
/// Opt-in wall-clock breakdown of training steps, for finding what a step spends its time on. Off unless the
/// environment variable <c>FRCNN_STEP_PROFILE</c> is <c>1</c>; then <see cref="Trainer.Train"/> prints, after training,
/// the median milliseconds per step of every phase (the first <see cref="WarmupSteps"/> steps left out). Phases are
/// timed where the work is issued; on the CPU libtorch runs each op before returning, so the times are the ops' own.
/// </summary>
public static class StepProfile
{
    /// <summary>Steps left out of the medians (allocator and thread-pool warm-up).</summary>
    public const int WarmupSteps = 2;

    /// <summary>The phase that spans the whole step.</summary>
    public const string TotalPhase = "step";

    private static readonly Dictionary<string, double> Current = new();
    private static readonly List<string> Order = new();
    private static readonly List<Dictionary<string, double>> Steps = new();
    private static int openPhases;

    /// <summary>Whether profiling is on (<c>FRCNN_STEP_PROFILE=1</c>).</summary>
    public static bool Enabled { get; } = Environment.GetEnvironmentVariable("FRCNN_STEP_PROFILE") == "1";

    /// <summary>
    /// Times the code up to the returned value's disposal as part of <paramref name="phase"/> (summed within a step). A
    /// phase opened inside another (e.g. the teacher's RoIAlign inside "teacher forward") counts only in the outer one,
    /// so the phases of a step never overlap.
    /// </summary>
    public static Phase Measure(string phase) => new(Enabled && openPhases == 0 ? phase : null, closesStep: false);

    /// <summary>Times a whole step; its disposal closes the step, whose phases become one row of the medians.</summary>
    public static Phase Step() => new(Enabled ? TotalPhase : null, closesStep: true);

    /// <summary>The table of median milliseconds per step by phase, then "step" (the median of the whole step).</summary>
    public static string Report(string title)
    {
        var counted = Steps.Skip(WarmupSteps).ToList();
        Steps.Clear();
        var lines = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture,
                $"step profile of {title}: median ms per step over {counted.Count} steps (first {WarmupSteps} left out), {TorchSharp.torch.get_num_threads()} torch threads"),
        };
        if (counted.Count == 0)
        {
            return lines[0];
        }

        double step = Median(counted.Select(s => s.GetValueOrDefault(TotalPhase)));
        var phases = Order.Where(p => p != TotalPhase).ToList();
        foreach (var phase in phases)
        {
            lines.Add(Line(phase, Median(counted.Select(s => s.GetValueOrDefault(phase))), step));
        }

        lines.Add(Line("rest (freeing, bookkeeping)", Median(counted.Select(s => s.GetValueOrDefault(TotalPhase) - phases.Sum(p => s.GetValueOrDefault(p)))), step));
        lines.Add(Line(TotalPhase, step, step));
        return string.Join(Environment.NewLine, lines);
    }

    private static string Line(string phase, double milliseconds, double step)
        => string.Create(CultureInfo.InvariantCulture, $"  {phase,-28} {milliseconds,9:F1} ms {100 * milliseconds / step,6:F1} %");

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? 0 : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : 0.5 * (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]);
    }

    /// <summary>A running measurement; disposing it adds the elapsed time to its phase.</summary>
    public readonly struct Phase : IDisposable
    {
        private readonly string? name;
        private readonly bool closesStep;
        private readonly long start;

        internal Phase(string? name, bool closesStep)
        {
            this.name = name;
            this.closesStep = closesStep;
            start = name is null ? 0 : Stopwatch.GetTimestamp();
            if (name is not null && !closesStep)
            {
                openPhases++;
            }
        }

        public void Dispose()
        {
            if (name is null)
            {
                return;
            }

            double milliseconds = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            if (!closesStep)
            {
                openPhases--;
            }

            if (!Current.TryAdd(name, milliseconds))
            {
                Current[name] += milliseconds;
            }

            if (!Order.Contains(name))
            {
                Order.Add(name);
            }

            if (closesStep)
            {
                Steps.Add(new Dictionary<string, double>(Current));
                Current.Clear();
            }
        }
    }
}
