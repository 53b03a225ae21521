using DeFeat.Losses;

namespace DeFeat.Hooks.Schedules;

/// <summary>
/// A linear decay, the official code's <c>1 − e/E</c>: w(s) = weight · max(0, 1 − s / totalSteps), the full weight at
/// step 0 and 0 from step <c>totalSteps</c> on.
/// </summary>
public sealed class LinearDecaySchedule : WeightSchedule
{
    /// <summary>Creates the schedule.</summary>
    /// <param name="totalSteps">The step at which the weight reaches 0, &gt; 0 (e.g. the number of epochs or iterations).</param>
    /// <param name="weight">The initial weight, finite and ≥ 0; default 1.</param>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public LinearDecaySchedule(long totalSteps, double weight = 1.0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(totalSteps);
        TotalSteps = totalSteps;
        Weight = Guard.NonNegative(weight, nameof(weight));
    }

    /// <summary>The step at which the weight reaches 0.</summary>
    public long TotalSteps { get; }

    /// <summary>The initial weight.</summary>
    public double Weight { get; }

    /// <inheritdoc />
    protected override double Compute(long step) => Weight * Math.Max(0.0, 1.0 - ((double)step / TotalSteps));
}
