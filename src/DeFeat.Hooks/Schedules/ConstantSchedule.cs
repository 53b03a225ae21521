using DeFeat.Losses;

namespace DeFeat.Hooks.Schedules;

/// <summary>A constant weight: w(s) = weight for every step (the default, with weight 1).</summary>
public sealed class ConstantSchedule : WeightSchedule
{
    /// <summary>Creates the schedule.</summary>
    /// <param name="weight">The weight, finite and ≥ 0; default 1.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="weight"/> is negative or not finite.</exception>
    public ConstantSchedule(double weight = 1.0) => Weight = Guard.NonNegative(weight, nameof(weight));

    /// <summary>The weight.</summary>
    public double Weight { get; }

    /// <inheritdoc />
    protected override double Compute(long step) => Weight;
}
