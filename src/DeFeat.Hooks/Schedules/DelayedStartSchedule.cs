namespace DeFeat.Hooks.Schedules;

/// <summary>
/// The official warm-up: the KD terms multiplied by 0 for the first <c>offSteps</c> steps, then by
/// <c>schedule</c>'s weight at the same step (the inner schedule's clock is not shifted: a decay over E epochs with
/// 1 epoch off ends at E as well). The authors report similar results with and without it.
/// </summary>
public sealed class DelayedStartSchedule : WeightSchedule
{
    /// <summary>Creates the schedule.</summary>
    /// <param name="offSteps">Steps with weight 0 at the start, ≥ 0.</param>
    /// <param name="schedule">The weight from step <paramref name="offSteps"/> on.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="offSteps"/> is negative.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="schedule"/> is null.</exception>
    public DelayedStartSchedule(long offSteps, WeightSchedule schedule)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offSteps);
        ArgumentNullException.ThrowIfNull(schedule);
        OffSteps = offSteps;
        Schedule = schedule;
    }

    /// <summary>Steps with weight 0 at the start.</summary>
    public long OffSteps { get; }

    /// <summary>The schedule that applies from <see cref="OffSteps"/> on.</summary>
    public WeightSchedule Schedule { get; }

    /// <inheritdoc />
    protected override double Compute(long step) => step < OffSteps ? 0.0 : Schedule.WeightAt(step);
}
