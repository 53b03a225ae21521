using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace FasterRcnnDistillation.Training;

/// <summary>
/// Shows a run's progress. In a terminal: one Spectre progress bar whose description stays short (run, epoch, total
/// loss, last validation mAP), so the bar keeps its width. With output redirected (a log file, a pipe): a plain line
/// about every 1 % of the run and at each validation point, with every loss term, elapsed time and an estimate of
/// the time left; nothing is redrawn.
/// </summary>
public sealed class TrainingReporter
{
    private readonly string title;
    private readonly int totalSteps;
    private readonly int epochs;
    private readonly int firstStep;
    private readonly Stopwatch clock = new();
    private readonly int lineEvery;
    private ProgressTask? task;
    private int done;
    private string lastValidation = "";

    /// <param name="title">Run name shown first.</param>
    /// <param name="totalSteps">Steps of the whole run.</param>
    /// <param name="epochs">Epochs of the whole run.</param>
    /// <param name="firstStep">Steps already done (a resumed run).</param>
    public TrainingReporter(string title, int totalSteps, int epochs, int firstStep)
    {
        this.title = title;
        this.totalSteps = totalSteps;
        this.epochs = epochs;
        this.firstStep = firstStep;
        done = firstStep;
        lineEvery = Math.Max(1, totalSteps / 100);
    }

    /// <summary>Runs <paramref name="training"/>, which reports each step and validation to this reporter.</summary>
    public void Run(Action<TrainingReporter> training)
    {
        clock.Start();
        if (Console.IsOutputRedirected)
        {
            training(this);
            return;
        }

        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                task = context.AddTask(Markup.Escape(title), maxValue: totalSteps);
                task.Value = firstStep;
                training(this);
            });
    }

    /// <summary>One step of epoch <paramref name="epoch"/> (0-based) ended with the loss terms in <paramref name="losses"/>.</summary>
    public void Stepped(int epoch, IReadOnlyDictionary<string, double> losses)
    {
        done++;
        if (task is not null)
        {
            task.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                $"{title} e{epoch + 1}/{epochs} loss {losses["total"]:F3}{lastValidation}"));
            task.Increment(1);
            return;
        }

        if (done % lineEvery == 0 || done == totalSteps)
        {
            double rate = clock.Elapsed.TotalSeconds / Math.Max(1, done - firstStep);
            var left = TimeSpan.FromSeconds(rate * (totalSteps - done));
            string terms = string.Join(" ", losses.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Key} {p.Value:F3}")));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{title} step {done}/{totalSteps} ({100.0 * done / totalSteps:F0} %) e{epoch + 1}/{epochs} {terms} | {clock.Elapsed:h\\:mm\\:ss} elapsed, {left:h\\:mm\\:ss} left, {1000 * rate:F0} ms/step"));
        }
    }

    /// <summary>A validation point was measured.</summary>
    public void Validated(ValidationPoint point)
    {
        lastValidation = string.Create(CultureInfo.InvariantCulture, $" mAP {100 * point.Map:F1}");
        if (task is null)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{title} step {point.Step}: val mAP {100 * point.Map:F2}, mAP@.5 {100 * point.Map50:F2}"));
        }
    }
}
