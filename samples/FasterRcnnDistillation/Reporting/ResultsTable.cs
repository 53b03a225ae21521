using System.Globalization;
using FasterRcnnDistillation.Evaluation;
using Spectre.Console;

namespace FasterRcnnDistillation.Reporting;

/// <summary>
/// One evaluated model of a run: its name, a short settings summary, the seed and training time of its run (null for
/// a teacher that was loaded, not trained) and its mAP.
/// </summary>
public sealed record ModelResult(string Name, string Settings, int? Seed, EvaluationResult Metrics, TimeSpan? TrainingTime);

/// <summary>Prints the results table (fits an 80-column terminal) and appends rows to a CSV file (one line per model and seed).</summary>
public static class ResultsTable
{
    /// <summary>Longest settings text shown; longer ones are cut with an ellipsis (the CSV keeps them whole).</summary>
    public const int SettingsWidth = 18;

    /// <summary>Writes the table, then, when there are a teacher, a student and a DeFeat student, the gap line.</summary>
    public static void Print(IReadOnlyList<ModelResult> results, IAnsiConsole? console = null)
    {
        console ??= AnsiConsole.Console;
        var table = new Table().Title(Markup.Escape("COCO-style box AP in % on the val split (mAP = AP@[.5:.95])"));
        table.AddColumns("model", "settings", "seed", "mAP", "AP50", "AP75", "train");
        foreach (var r in results)
        {
            table.AddRow(
                Markup.Escape(r.Name), Markup.Escape(Shorten(r.Settings)), r.Seed?.ToString(CultureInfo.InvariantCulture) ?? "—",
                Percent(r.Metrics.Map), Percent(r.Metrics.Map50), Percent(r.Metrics.Map75),
                r.TrainingTime?.ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture) ?? "—");
        }

        console.Write(table);
        if (GapClosed(results) is { } line)
        {
            console.WriteLine(line);
        }
    }

    /// <summary>
    /// "DeFeat closes X % of the teacher–student gap (…)" when the results hold "teacher", "student" and a
    /// "student + DeFeat": (DeFeat − student) / (teacher − student) in mAP; null otherwise.
    /// </summary>
    public static string? GapClosed(IReadOnlyList<ModelResult> results)
    {
        var teacher = results.FirstOrDefault(r => r.Name == "teacher");
        var student = results.FirstOrDefault(r => r.Name == "student");
        var distilled = results.FirstOrDefault(r => r.Name == "student + DeFeat");
        if (teacher is null || student is null || distilled is null || teacher.Metrics.Map <= student.Metrics.Map)
        {
            return null;
        }

        double closed = (distilled.Metrics.Map - student.Metrics.Map) / (teacher.Metrics.Map - student.Metrics.Map);
        return string.Create(CultureInfo.InvariantCulture,
            $"DeFeat closes {100 * closed:F0} % of the teacher–student mAP gap ({Percent(student.Metrics.Map)} → {Percent(distilled.Metrics.Map)}, teacher {Percent(teacher.Metrics.Map)}).");
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
                r.Name, r.Settings.Replace(',', ';'), r.Seed?.ToString(CultureInfo.InvariantCulture) ?? "",
                r.Metrics.Map.ToString("F4", CultureInfo.InvariantCulture), r.Metrics.Map50.ToString("F4", CultureInfo.InvariantCulture),
                r.Metrics.Map75.ToString("F4", CultureInfo.InvariantCulture), r.TrainingTime?.TotalSeconds.ToString("F0", CultureInfo.InvariantCulture) ?? ""));
        }
    }

    private static string Shorten(string text) => text.Length <= SettingsWidth ? text : text[..(SettingsWidth - 1)] + "…";

    private static string Percent(double value) => (100 * value).ToString("F1", CultureInfo.InvariantCulture);
}
