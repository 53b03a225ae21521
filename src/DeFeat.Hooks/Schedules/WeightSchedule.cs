namespace DeFeat.Hooks.Schedules;

/// <summary>
/// A distillation weight as a function of the training step: the distiller multiplies every part of a term by
/// <see cref="WeightAt"/> of its current step. Steps count from 0; what a step is (an iteration or an epoch) is the
/// caller's choice, as long as the schedule's lengths use the same unit.
/// </summary>
public abstract class WeightSchedule
{
    /// <summary>The weight at <paramref name="step"/>.</summary>
    /// <param name="step">The step, ≥ 0.</param>
    /// <returns>The weight, finite and ≥ 0.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="step"/> is negative.</exception>
    /// <exception cref="InvalidOperationException">The schedule computed a weight that is NaN, infinite or negative.</exception>
    public double WeightAt(long step)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        var weight = Compute(step);
        return double.IsFinite(weight) && weight >= 0
            ? weight
            : throw new InvalidOperationException(
                $"{GetType().Name} computed the distillation weight {weight} at step {step}; a distillation weight must be a finite number >= 0. "
                + "Fix its Compute override (or its options).");
    }

    /// <summary>The weight at a validated step ≥ 0.</summary>
    /// <param name="step">The step, ≥ 0.</param>
    /// <returns>The weight; must be finite and ≥ 0 (<see cref="WeightAt"/> checks it).</returns>
    protected abstract double Compute(long step);
}
