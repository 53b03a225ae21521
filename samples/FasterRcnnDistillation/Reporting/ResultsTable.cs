using System.Globalization;
using FasterRcnnDistillation.Evaluation;
using Spectre.Console;

namespace FasterRcnnDistillation.Reporting;

/// <summary>One evaluated model of a run: its name, settings summary, mAP and training time.</summary>
public sealed record ModelResult(string Name, string Settings, int Seed, EvaluationResult Metrics, TimeSpan TrainingTime);

/// <summary>Prints the results table and appends rows to a CSV file (one line per model and seed).</summary>
public static class ResultsTable
{
    public static void Print(IReadOnlyList<ModelResult> results)
    {
        var table = new Table().Title("COCO-style box mAP on the validation split");
        table.AddColumns("model", "settings", "seed", Markup.Escape("mAP@[.5:.95]"), "mAP@.5", "mAP@.75", "train time");
        foreach (var r in results)
        {
            table.AddRow(
                Markup.Escape(r.Name), Markup.Escape(r.Settings), r.Seed.ToString(CultureInfo.InvariantCulture),
                Percent(r.Metrics.Map), Percent(r.Metrics.Map50), Percent(r.Metrics.Map75), r.TrainingTime.ToString(@"m\:ss", CultureInfo.InvariantCulture));
        }

        AnsiConsole.Write(table);
    }

    public static void AppendCsv(string path, IEnumerable<ModelResult> results)
    {
        bool exists = File.Exists(path);
        using var writer = new StreamWriter(path, append: true);
        if (!exists)
        {
            writer.WriteLine("model,settings,seed,map,map50,map75,train_seconds");
        }

        foreach (var r in results)
        {
            writer.WriteLine(string.Join(',',
                r.Name, r.Settings.Replace(',', ';'), r.Seed.ToString(CultureInfo.InvariantCulture),
                r.Metrics.Map.ToString("F4", CultureInfo.InvariantCulture), r.Metrics.Map50.ToString("F4", CultureInfo.InvariantCulture),
                r.Metrics.Map75.ToString("F4", CultureInfo.InvariantCulture), r.TrainingTime.TotalSeconds.ToString("F0", CultureInfo.InvariantCulture)));
        }
    }

    private static string Percent(double value) => (100 * value).ToString("F1", CultureInfo.InvariantCulture);
}
