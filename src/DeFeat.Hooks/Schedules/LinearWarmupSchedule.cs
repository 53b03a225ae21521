using DeFeat.Losses;

namespace DeFeat.Hooks.Schedules;

/// <summary>
/// A linear warm-up: w(s) = weight · min(1, s / warmupSteps), i.e. 0 at step 0, rising linearly to the full weight at
/// step <c>warmupSteps</c> and constant after it.
/// </summary>
public sealed class LinearWarmupSchedule : WeightSchedule
{
    /// <summary>Creates the schedule.</summary>
    /// <param name="warmupSteps">Steps to reach the full weight, &gt; 0.</param>
    /// <param name="weight">The full weight, finite and ≥ 0; default 1.</param>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public LinearWarmupSchedule(long warmupSteps, double weight = 1.0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(warmupSteps);
        WarmupSteps = warmupSteps;
        Weight = Guard.NonNegative(weight, nameof(weight));
    }

    /// <summary>Steps to reach the full weight.</summary>
    public long WarmupSteps { get; }

    /// <summary>The full weight.</summary>
    public double Weight { get; }

    /// <inheritdoc />
    protected override double Compute(long step) => Weight * Math.Min(1.0, (double)step / WarmupSteps);
}
