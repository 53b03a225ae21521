// Plots a balance-<run>.csv of the sample (--diagnose-every) as three PNGs next to OUTPUT_PREFIX:
//   -ratio.png   KD/task gradient-norm ratio per neck level and at the last backbone stage (log scale), over steps
//   -cosine.png  cosine between the KD and the task gradients at the same places
//   -energy.png  the teacher's mean per-cell feature energy Σ_c T² in object and background cells, per level
// Usage: dotnet run --project eng/balance-plot -- BALANCE.csv OUTPUT_PREFIX ["title"]
using System.Globalization;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: BALANCE.csv OUTPUT_PREFIX [title]");
    return 2;
}

var rows = File.ReadLines(args[0]).Skip(1).Select(line => line.Split(',')).ToList();
string title = args.Length > 2 ? args[2] : Path.GetFileNameWithoutExtension(args[0]);
double Number(string text) => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);

// Term totals only (loss column == term column).
var totals = rows.Where(r => r[1] != "teacher_neck" && r[3] == r[2]).ToList();
var places = totals.Select(r => (Site: r[1], Level: int.Parse(r[4], CultureInfo.InvariantCulture))).Distinct().ToList();

void Lines(string suffix, string yLabel, Func<string[], double> value, bool log)
{
    var plot = new ScottPlot.Plot();
    foreach (var (site, level) in places)
    {
        var series = totals.Where(r => r[1] == site && int.Parse(r[4], CultureInfo.InvariantCulture) == level)
            .Select(r => (Step: Number(r[0]), Value: value(r))).Where(p => double.IsFinite(p.Value) && (!log || p.Value > 0)).ToArray();
        if (series.Length == 0)
        {
            continue;
        }

        var line = plot.Add.Scatter(series.Select(p => p.Step).ToArray(), series.Select(p => log ? Math.Log10(p.Value) : p.Value).ToArray());
        line.LegendText = site == "neck" ? $"neck P{level + 2}" : site;
        line.MarkerSize = 3;
    }

    if (log)
    {
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = exponent => Math.Pow(10, exponent).ToString("G3", CultureInfo.InvariantCulture),
        };
        var one = plot.Add.HorizontalLine(0);
        one.LinePattern = ScottPlot.LinePattern.Dashed;
    }

    plot.Title(title);
    plot.XLabel("step");
    plot.YLabel(yLabel);
    plot.ShowLegend(ScottPlot.Edge.Right);
    plot.SavePng($"{args[1]}-{suffix}.png", 1100, 550);
}

Lines("ratio", "‖∂L_kd/∂x‖ / ‖∂L_task/∂x‖ (log scale; dashed: 1)", r => Number(r[7]), log: true);
Lines("cosine", "cos(∂L_kd/∂x, ∂L_task/∂x)", r => Number(r[8]), log: false);

var energy = new ScottPlot.Plot();
foreach (var kind in new[] { "energy_object", "energy_background" })
{
    foreach (var level in rows.Where(r => r[3] == kind).Select(r => int.Parse(r[4], CultureInfo.InvariantCulture)).Distinct())
    {
        var series = rows.Where(r => r[3] == kind && int.Parse(r[4], CultureInfo.InvariantCulture) == level)
            .Select(r => (Step: Number(r[0]), Value: Number(r[5]))).Where(p => p.Value > 0).ToArray();
        if (series.Length == 0)
        {
            continue; // no object cells at this level
        }

        var line = energy.Add.Scatter(series.Select(p => p.Step).ToArray(), series.Select(p => p.Value).ToArray());
        line.LegendText = $"P{level + 2} {(kind == "energy_object" ? "object" : "background")}";
        line.MarkerSize = 3;
        line.LinePattern = kind == "energy_object" ? ScottPlot.LinePattern.Solid : ScottPlot.LinePattern.Dashed;
    }
}

energy.Title($"{title}: teacher neck energy per cell");
energy.XLabel("step (batch of that step)");
energy.YLabel("mean over cells of Σ_c T²");
energy.ShowLegend(ScottPlot.Edge.Right);
energy.SavePng($"{args[1]}-energy.png", 1100, 550);
return 0;
