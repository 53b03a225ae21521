namespace FasterRcnnDistillation.Reporting;

/// <summary>Loss curves of training runs (moving average over 10 steps), saved as a PNG with ScottPlot.</summary>
public static class LossCurvePlot
{
    private const int Window = 10;

    /// <summary>One line per (run, component): run name → per-step records (component → value).</summary>
    public static void Save(string path, IReadOnlyDictionary<string, List<Dictionary<string, double>>> runs, IReadOnlyList<string> components)
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
                var smoothed = values.Select((_, i) => values[Math.Max(0, i - Window + 1)..(i + 1)].Average()).ToArray();
                var line = plot.Add.Scatter(Enumerable.Range(0, smoothed.Length).Select(i => (double)i).ToArray(), smoothed);
                line.MarkerSize = 0;
                line.LegendText = $"{run}: {component}";
            }
        }

        plot.Title("Training losses (moving average of 10 steps)");
        plot.XLabel("step");
        plot.YLabel("loss");
        plot.ShowLegend();
        plot.SavePng(path, 1000, 600);
    }
}
