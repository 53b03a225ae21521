using DeFeat.Losses;

using System.Globalization;

namespace DeFeat.Hooks.Balance;

/// <summary>
/// What <see cref="GradientBalance.Measure"/> found in one step: for every term and level, each distillation part's
/// gradient and the term's total gradient at the student's tensors, against the task loss's gradient there.
/// </summary>
public sealed class GradientBalanceReport
{
    /// <summary>
    /// The ratio above which <see cref="Warning"/> speaks by default: a distillation gradient as large as the detector's
    /// own at the same features. In the sample (RESULTS.md) balancing at 3× and 10× still hurt the student, at 1× it
    /// was neutral, and only 0.1× helped.
    /// </summary>
    public const double DefaultMaximumRatio = 1.0;

    internal GradientBalanceReport(IReadOnlyList<GradientBalanceEntry> entries) => Entries = entries;

    /// <summary>Every row: per term, per level, first each part, then the term's total.</summary>
    public IReadOnlyList<GradientBalanceEntry> Entries { get; }

    /// <summary>
    /// The rows of term totals whose <see cref="GradientBalanceEntry.Ratio"/> exceeds <paramref name="maximumRatio"/>
    /// (rows where the task loss does not reach the features are not counted: nothing to drown there).
    /// </summary>
    /// <param name="maximumRatio">The largest acceptable KD/task gradient ratio; &gt; 0.</param>
    /// <returns>The offending rows, strongest first.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maximumRatio"/> is not a positive number.</exception>
    public IReadOnlyList<GradientBalanceEntry> Dominating(double maximumRatio = DefaultMaximumRatio)
    {
        Guard.Positive(maximumRatio, nameof(maximumRatio));
        return [.. Entries
            .Where(entry => entry.IsTermTotal && entry.TaskNorm > 0 && entry.Ratio > maximumRatio)
            .OrderByDescending(entry => entry.Ratio)];
    }

    /// <summary>
    /// A plain warning when distillation dominates the detector's own gradient at some term's features by more than
    /// <paramref name="maximumRatio"/>, naming each place and the factor to scale that term by; null when nothing does.
    /// </summary>
    /// <param name="maximumRatio">The largest acceptable KD/task gradient ratio; &gt; 0.</param>
    /// <returns>The warning, or null.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maximumRatio"/> is not a positive number.</exception>
    public string? Warning(double maximumRatio = DefaultMaximumRatio)
    {
        var dominating = Dominating(maximumRatio);
        if (dominating.Count == 0)
        {
            return null;
        }

        var places = dominating.Select(entry => string.Create(
            CultureInfo.InvariantCulture,
            $"{entry.Term} at {entry.Site} level {entry.Level}: {entry.Ratio:0.##}× (cosine {entry.Cosine:0.00})"));
        var strongest = dominating[0];
        return string.Create(
            CultureInfo.InvariantCulture,
            $"Distillation dominates the detector's own gradient at the student's features (KD/task gradient norm above {maximumRatio:0.##}): "
            + $"{string.Join("; ", places)}. The student then learns to imitate more than to detect. Scale the term's weights down "
            + $"(e.g. '{strongest.Term}' by {maximumRatio / strongest.Ratio:0.###}) or let a DistillationBalancer set the scale.");
    }

    /// <summary>One line per row: loss, site, level, the two norms, their ratio and cosine (for logs).</summary>
    /// <returns>The table as text.</returns>
    public override string ToString()
        => string.Join(Environment.NewLine, Entries.Select(entry => string.Create(
            CultureInfo.InvariantCulture,
            $"{entry.Loss} at {entry.Site}[{entry.Level}]: kd {entry.DistillationNorm:G4}, task {entry.TaskNorm:G4}, ratio {entry.Ratio:G4}, cosine {entry.Cosine:0.000}")));
}
