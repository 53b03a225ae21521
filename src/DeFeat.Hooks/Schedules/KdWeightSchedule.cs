namespace DeFeat.Hooks.Schedules;

/// <summary>
/// A knowledge-distillation weight as a function of the training step: the distiller multiplies every loss term by
/// <see cref="WeightAt"/> of its current step. Steps count from 0; what a step is (an iteration or an epoch) is the
/// caller's choice, as long as the schedule's lengths use the same unit.
/// </summary>
public abstract class KdWeightSchedule
{
    /// <summary>The weight at <paramref name="step"/>.</summary>
    /// <param name="step">The step, ≥ 0.</param>
    /// <returns>The weight, finite and ≥ 0.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="step"/> is negative.</exception>
    public double WeightAt(long step)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        return Compute(step);
    }

    /// <summary>The weight at a validated step ≥ 0.</summary>
    /// <param name="step">The step, ≥ 0.</param>
    /// <returns>The weight.</returns>
    protected abstract double Compute(long step);
}
