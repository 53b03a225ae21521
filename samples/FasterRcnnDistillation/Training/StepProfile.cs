using System.Diagnostics;
using System.Globalization;

namespace FasterRcnnDistillation.Training;

/// <summary>
/// Opt-in wall-clock breakdown of training steps, for finding what a step spends its time on. Off unless the
/// environment variable <c>FRCNN_STEP_PROFILE</c> is <c>1</c>; then <see cref="Trainer.Train"/> prints, after training,
/// the median milliseconds per step of every phase (the first <see cref="WarmupSteps"/> steps left out). Phases are
/// timed where the work is issued; on the CPU libtorch runs each op before returning, so the times are the ops' own.
/// A phase opened inside another is listed under it (e.g. the teacher's NMS under "teacher forward"), counted once in
/// the step; a <see cref="Reference"/> measurement is listed apart and left out of the step.
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
    /// <summary>The open phases, innermost first.</summary>
    private static readonly Stack<(string Name, PhaseKind Kind)> Open = new();

    /// <summary>Reference time spent inside each open phase (and inside the step, under <see cref="TotalPhase"/>), to leave out of it.</summary>
    private static readonly Dictionary<string, double> Excluded = new();

    /// <summary>Separates a nested phase's name from its outermost phase's: "teacher forward › proposals: NMS".</summary>
    private const string NestedSeparator = " › ";

    /// <summary>Whether profiling is on (<c>FRCNN_STEP_PROFILE=1</c>).</summary>
    public static bool Enabled { get; internal set; } = Environment.GetEnvironmentVariable("FRCNN_STEP_PROFILE") == "1";

    /// <summary>The clock, in <see cref="Stopwatch"/> ticks (replaceable by tests).</summary>
    internal static Func<long> Clock { get; set; } = Stopwatch.GetTimestamp;

    /// <summary>Forgets every recorded step and phase (for tests).</summary>
    internal static void Reset()
    {
        Current.Clear();
        Order.Clear();
        Steps.Clear();
        Open.Clear();
        Excluded.Clear();
        References.Clear();
    }

    /// <summary>
    /// Times the code up to the returned value's disposal as part of <paramref name="phase"/> (summed within a step). A
    /// phase opened inside another (e.g. the teacher's RoIAlign inside "teacher forward") is recorded under the
    /// outermost one ("teacher forward › RoIAlign") and counted only in it, so the top-level phases never overlap.
    /// </summary>
    public static Phase Measure(string phase) => new(Enabled ? Nested(phase) : null, PhaseKind.Part);

    /// <summary>
    /// Times work done only for comparison inside a step (e.g. the teacher's bare inference beside its distillation
    /// run): listed as its own phase, with its nested phases, but left out of the step's time.
    /// </summary>
    public static Phase Reference(string phase) => new(Enabled ? phase : null, PhaseKind.Reference);

    /// <summary>Times a whole step; its disposal closes the step, whose phases become one row of the medians.</summary>
    public static Phase Step() => new(Enabled ? TotalPhase : null, PhaseKind.Step);

    /// <summary>A phase's name under the reference it runs in, else under the outermost open phase, else its own.</summary>
    private static string Nested(string phase)
    {
        if (Open.Count == 0)
        {
            return phase;
        }

        var owner = Open.Any(open => open.Kind == PhaseKind.Reference) ? Open.First(open => open.Kind == PhaseKind.Reference) : Open.Last();
        return owner.Name + NestedSeparator + phase;
    }

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
        var phases = Order.Where(p => p != TotalPhase && !p.Contains(NestedSeparator) && !References.Contains(p)).ToList();
        foreach (var phase in phases.Concat(Order.Where(References.Contains)))
        {
            lines.Add(Line(References.Contains(phase) ? phase + " (not in the step)" : phase, Median(counted.Select(s => s.GetValueOrDefault(phase))), step));
            foreach (var nested in Order.Where(p => p.StartsWith(phase + NestedSeparator, StringComparison.Ordinal)))
            {
                lines.Add(Line("  › " + nested[(phase.Length + NestedSeparator.Length)..], Median(counted.Select(s => s.GetValueOrDefault(nested))), step));
            }
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

    /// <summary>The phases measured with <see cref="Reference"/>: listed apart, left out of the step.</summary>
    private static readonly HashSet<string> References = new();

    /// <summary>What a <see cref="Phase"/> measures.</summary>
    public enum PhaseKind
    {
        /// <summary>A part of the step.</summary>
        Part,

        /// <summary>Comparison work inside a step, left out of the step's time.</summary>
        Reference,

        /// <summary>The whole step.</summary>
        Step,
    }

    /// <summary>A running measurement; disposing it adds the elapsed time to its phase.</summary>
    public readonly struct Phase : IDisposable
    {
        private readonly string? name;
        private readonly PhaseKind kind;
        private readonly long start;

        internal Phase(string? name, PhaseKind kind)
        {
            this.name = name;
            this.kind = kind;
            start = name is null ? 0 : Clock();
            if (name is not null && kind != PhaseKind.Step)
            {
                Open.Push((name, kind));
            }
        }

        public void Dispose()
        {
            if (name is null)
            {
                return;
            }

            double milliseconds = (Clock() - start) * 1000.0 / Stopwatch.Frequency;
            if (kind != PhaseKind.Step)
            {
                Open.Pop();
            }

            var key = kind == PhaseKind.Step ? TotalPhase : name;
            if (Excluded.Remove(key, out var reference))
            {
                milliseconds -= reference;
            }

            if (kind == PhaseKind.Reference)
            {
                References.Add(name);
                foreach (var enclosing in Open.Select(open => open.Name).Append(TotalPhase))
                {
                    Excluded[enclosing] = Excluded.GetValueOrDefault(enclosing) + milliseconds;
                }
            }

            bool closesStep = kind == PhaseKind.Step;
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
