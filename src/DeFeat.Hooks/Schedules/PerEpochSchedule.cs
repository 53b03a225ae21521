namespace DeFeat.Hooks.Schedules;

/// <summary>
/// Counts epochs for a schedule written in epochs while the distiller counts iterations: w(i) =
/// <c>epochSchedule</c>.WeightAt(⌊i / iterationsPerEpoch⌋), so the weight changes once per epoch, as in the official
/// runner (e.g. <c>new PerEpochSchedule(new LinearDecaySchedule(12), iterationsPerEpoch: 7330)</c> is its
/// <c>decay</c>, 1 − e/E, over 12 epochs).
/// </summary>
public sealed class PerEpochSchedule : WeightSchedule
{
    /// <summary>Creates the schedule.</summary>
    /// <param name="epochSchedule">The weight per epoch (its steps are epochs, from 0).</param>
    /// <param name="iterationsPerEpoch">Distiller calls (training iterations) per epoch, &gt; 0.</param>
    /// <exception cref="ArgumentNullException"><paramref name="epochSchedule"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="iterationsPerEpoch"/> is not positive.</exception>
    public PerEpochSchedule(WeightSchedule epochSchedule, long iterationsPerEpoch)
    {
        ArgumentNullException.ThrowIfNull(epochSchedule);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(iterationsPerEpoch);
        EpochSchedule = epochSchedule;
        IterationsPerEpoch = iterationsPerEpoch;
    }

    /// <summary>The weight per epoch.</summary>
    public WeightSchedule EpochSchedule { get; }

    /// <summary>Iterations per epoch.</summary>
    public long IterationsPerEpoch { get; }

    /// <inheritdoc />
    protected override double Compute(long step) => EpochSchedule.WeightAt(step / IterationsPerEpoch);
}
