using DeFeat.Losses;

namespace DeFeat.Hooks.Schedules;

/// <summary>
/// The official runner's <c>decay-up-down</c>: w(s) = weight · (1 + s / turningStep) up to <c>turningStep</c> (twice the
/// weight there), then weight · (2 − 2 · (s − turningStep) / (totalSteps − turningStep)), reaching 0 at
/// <c>totalSteps</c> and staying 0 after it. The official code counts epochs; wrap it in a <see cref="PerEpochSchedule"/>
/// to count epochs with a distiller that counts iterations.
/// </summary>
public sealed class UpDownSchedule : WeightSchedule
{
    /// <summary>Creates the schedule.</summary>
    /// <param name="turningStep">The step of the peak (2 · weight), &gt; 0.</param>
    /// <param name="totalSteps">The step at which the weight reaches 0, &gt; <paramref name="turningStep"/>.</param>
    /// <param name="weight">The weight at step 0 (half the peak), finite and ≥ 0; default 1.</param>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public UpDownSchedule(long turningStep, long totalSteps, double weight = 1.0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(turningStep);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(totalSteps, turningStep);
        TurningStep = turningStep;
        TotalSteps = totalSteps;
        Weight = Guard.NonNegative(weight, nameof(weight));
    }

    /// <summary>The step of the peak.</summary>
    public long TurningStep { get; }

    /// <summary>The step at which the weight reaches 0.</summary>
    public long TotalSteps { get; }

    /// <summary>The weight at step 0.</summary>
    public double Weight { get; }

    /// <inheritdoc />
    protected override double Compute(long step) => step <= TurningStep
        ? Weight * (1.0 + ((double)step / TurningStep))
        : Weight * Math.Max(0.0, 2.0 - (2.0 * (step - TurningStep) / (TotalSteps - TurningStep)));
}
