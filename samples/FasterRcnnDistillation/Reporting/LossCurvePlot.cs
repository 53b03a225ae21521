namespace FasterRcnnDistillation.Reporting;

/// <summary>
/// Loss curves of training runs (moving average over 10 steps), saved as a PNG with ScottPlot. The loss axis is
/// logarithmic: the DeFeat background part starts two orders of magnitude above the detection losses.
/// </summary>
public static class LossCurvePlot
{
    private const int Window = 10;

    /// <summary>Smallest loss drawn (a step's exact zero would have no logarithm).</summary>
    private const double Floor = 1e-4;

    /// <summary>One line per (run, component): run name → per-step records (component → value).</summary>
    /// <param name="path">PNG file to write.</param>
    /// <param name="runs">Run name → per-step records (component → value).</param>
    /// <param name="components">Components drawn, where a run has them and they are not all zero.</param>
    /// <param name="note">Printed under the plot (what a reader must know to read a curve; lines of ≤ 90 characters), or null.</param>
    public static void Save(
        string path, IReadOnlyDictionary<string, List<Dictionary<string, double>>> runs, IReadOnlyList<string> components, string? note = null)
    {
        var plot = new ScottPlot.Plot();
        foreach (var (run, history) in runs)
        {
            foreach (var component in components)
            {
                if (history.Count == 0 || !history[0].ContainsKey(component))
                {
                    continue;
                }

                var values = history.Select(r => r[component]).ToArray();
                if (values.All(v => v == 0))
                {
                    continue; // a term switched off by a weight of 0
                }

                var smoothed = values.Select((_, i) => values[Math.Max(0, i - Window + 1)..(i + 1)].Average()).ToArray();
                var logs = smoothed.Select(v => Math.Log10(Math.Max(v, Floor))).ToArray();
                var line = plot.Add.Scatter(Enumerable.Range(0, logs.Length).Select(i => (double)i).ToArray(), logs);
                line.MarkerSize = 0;
                line.LegendText = $"{run}: {component}";
            }
        }

        plot.Title("Training losses (moving average of 10 steps)");
        plot.XLabel(note is null ? "step" : $"step\n{note}", size: 13);
        plot.YLabel("loss (log scale)");
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = exponent => Math.Pow(10, exponent).ToString("G3", System.Globalization.CultureInfo.InvariantCulture),
        };
        plot.ShowLegend(ScottPlot.Edge.Right); // beside the axes, so that it covers no curve
        plot.SavePng(path, 1300, 650);
    }
}
