using FasterRcnnDistillation.Evaluation;
using FasterRcnnDistillation.Reporting;
using Spectre.Console;

namespace FasterRcnnDistillation.Tests;

public class ResultsTableTests
{
    [Fact]
    public void The_compare_table_fits_80_columns_with_one_line_per_row_and_states_the_gap_closed()
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = 200;
        var results = new[]
        {
            new ModelResult("teacher", "R34, a-long-teacher-file-name.bin", null, Metrics(0.40), null),
            new ModelResult("student", "R18, baseline", 3, Metrics(0.20), TimeSpan.FromSeconds(150)),
            new ModelResult("student + DeFeat", "λ 3/12, KD on", 3, Metrics(0.25), TimeSpan.FromSeconds(3725)),
        };

        ResultsTable.Print(results, console);

        var lines = writer.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToList();
        lines.Should().OnlyContain(line => line.Length <= 80);
        lines.Should().HaveCount(1 + 1 + 1 + 1 + 3 + 1 + 1, "title, top border, header, separator, 3 rows, bottom border, gap line");
        lines.Should().Contain(line => line.Contains("R34, a-long-teach…") && line.Contains("40.0"));
        lines.Should().Contain(line => line.Contains("1:02:05"));
        lines[^1].Should().Be("DeFeat closes 25 % of the teacher–student mAP gap (20.0 → 25.0, teacher 40.0).");
    }

    private static EvaluationResult Metrics(double map) => new(map, map + 0.2, map + 0.05);
}
