using DeFeat.Losses;

namespace DeFeat.Hooks.Schedules;

/// <summary>
/// A cosine decay: w(s) = weight · ½ · (1 + cos(π · min(s, totalSteps) / totalSteps)), the full weight at step 0, half
/// of it at <c>totalSteps / 2</c> and 0 from step <c>totalSteps</c> on.
/// </summary>
public sealed class CosineDecaySchedule : WeightSchedule
{
    /// <summary>Creates the schedule.</summary>
    /// <param name="totalSteps">The step at which the weight reaches 0, &gt; 0.</param>
    /// <param name="weight">The initial weight, finite and ≥ 0; default 1.</param>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public CosineDecaySchedule(long totalSteps, double weight = 1.0)
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
    protected override double Compute(long step)
        => Weight * 0.5 * (1.0 + Math.Cos(Math.PI * Math.Min(step, TotalSteps) / TotalSteps));
}
