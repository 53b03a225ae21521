namespace DeFeat.Losses.Proposals;

/// <summary>
/// Weights, temperatures, background index and label checking of <see cref="DecoupledProposalKdLoss"/>. Defaults
/// follow the official config: β_obj = β_bg = 2, T_obj = T_bg = 1. Unlike the official code,
/// <see cref="BackgroundTemperature"/> is honoured and the background class is an explicit index
/// (<see cref="BackgroundIndex"/>) rather than the largest label found in the batch.
/// </summary>
public sealed record DecoupledProposalKdLossOptions
{
    /// <summary>β_obj, the weight of the positive-proposal KL term; finite, ≥ 0. Default 2.</summary>
    public double ObjectWeight
    {
        get;
        init => field = Guard.NonNegative(value, nameof(ObjectWeight));
    } = 2.0;

    /// <summary>β_bg, the weight of the background-proposal KL term; finite, ≥ 0. Default 2.</summary>
    public double BackgroundWeight
    {
        get;
        init => field = Guard.NonNegative(value, nameof(BackgroundWeight));
    } = 2.0;

    /// <summary>The smallest temperature accepted: below it the scaled logits s/T overflow float32 and the KL is NaN.</summary>
    public const double MinimumTemperature = 1e-6;

    /// <summary>The largest temperature accepted: above it T² overflows float32 and the KL is NaN.</summary>
    public const double MaximumTemperature = 1e6;

    /// <summary>T_obj, the softmax temperature for positive proposals, in [<see cref="MinimumTemperature"/>, <see cref="MaximumTemperature"/>]. Default 1.</summary>
    public double ObjectTemperature
    {
        get;
        init => field = Guard.Temperature(value, MinimumTemperature, MaximumTemperature, nameof(ObjectTemperature));
    } = 1.0;

    /// <summary>T_bg, the softmax temperature for background proposals, in [<see cref="MinimumTemperature"/>, <see cref="MaximumTemperature"/>]. Default 1.</summary>
    public double BackgroundTemperature
    {
        get;
        init => field = Guard.Temperature(value, MinimumTemperature, MaximumTemperature, nameof(BackgroundTemperature));
    } = 1.0;

    /// <summary>
    /// The label index of the background class, in [0, K]; <c>null</c> (the default) means the last logit column
    /// (index K of K + 1 columns, the mmdetection convention).
    /// </summary>
    public int? BackgroundIndex
    {
        get;
        init => field = value is null or >= 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(BackgroundIndex), value, $"{nameof(BackgroundIndex)} must be >= 0 or null; got {value}.");
    }

    /// <summary>
    /// Whether <see cref="DecoupledProposalKdLoss.forward"/> checks that every label is −1 (ignore) or a class index
    /// in [0, K] and throws otherwise. The check reads the labels' minimum and maximum back to the host in one
    /// combined transfer. <c>null</c> (the default): checked when the labels are on the CPU, where the read waits for
    /// nothing; not checked on a GPU, so that the loss stays asynchronous there. <c>true</c>: checked on every device
    /// (on a GPU, the loss's only host synchronisation). <c>false</c>: never checked. Unchecked labels below −1 count
    /// in neither set and labels above K count as positive proposals.
    /// </summary>
    public bool? ValidateLabels { get; init; }
}
