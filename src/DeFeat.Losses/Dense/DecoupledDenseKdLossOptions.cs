namespace DeFeat.Losses.Dense;

/// <summary>
/// Head layout, activation, weights and temperatures of <see cref="DecoupledDenseKdLoss"/>. <see cref="Classes"/>
/// must be given (there is no sensible default); the other settings default to A = 1 anchor per location, sigmoid
/// scores, β_obj = β_bg = 2 and T_obj = T_bg = 1. The official DeFeat code has no working one-stage head KD (its
/// RetinaNet path crashes and has no config): the weights and temperatures are those of its proposal KD config
/// (<see cref="Proposals.DecoupledProposalKdLossOptions"/>), a starting point rather than a tuned setting.
/// </summary>
public sealed record DecoupledDenseKdLossOptions
{
    /// <summary>The smallest temperature accepted: below it the scaled logits s/T overflow float32 and the KL is NaN.</summary>
    public const double MinimumTemperature = 1e-6;

    /// <summary>The largest temperature accepted: above it T² overflows float32 and the KL is NaN.</summary>
    public const double MaximumTemperature = 1e6;

    /// <summary>
    /// K, the score columns per anchor (≥ 1; ≥ 2 with <see cref="DenseKdActivation.Softmax"/>): the number of
    /// classes of a sigmoid head, or the classes plus the background column of a softmax head. Required.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is &lt; 1.</exception>
    public required int Classes
    {
        get;
        init => field = value >= 1
            ? value
            : throw new ArgumentOutOfRangeException(nameof(Classes), value, $"{nameof(Classes)} must be >= 1; got {value}.");
    }

    /// <summary>
    /// A, the anchors per feature-map location (≥ 1): 1 for anchor-free heads (FCOS, YOLOX), 9 for RetinaNet's
    /// default anchors. The head's score maps have A·K channels. Default 1.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is &lt; 1.</exception>
    public int AnchorsPerLocation
    {
        get;
        init => field = value >= 1
            ? value
            : throw new ArgumentOutOfRangeException(nameof(AnchorsPerLocation), value, $"{nameof(AnchorsPerLocation)} must be >= 1; got {value}.");
    } = 1;

    /// <summary>Per-class sigmoids or a softmax over the K columns of an anchor. Default <see cref="DenseKdActivation.Sigmoid"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a member of <see cref="DenseKdActivation"/>.</exception>
    public DenseKdActivation Activation
    {
        get;
        init => field = Enum.IsDefined(value)
            ? value
            : throw new ArgumentOutOfRangeException(nameof(Activation), value, $"{nameof(Activation)} must be Sigmoid or Softmax; got {value}.");
    } = DenseKdActivation.Sigmoid;

    /// <summary>β_obj, the weight of the object-anchor KL term; finite, ≥ 0. Default 2.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative or not finite.</exception>
    public double ObjectWeight
    {
        get;
        init => field = Guard.NonNegative(value, nameof(ObjectWeight));
    } = 2.0;

    /// <summary>β_bg, the weight of the background-anchor KL term; finite, ≥ 0. Default 2.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative or not finite.</exception>
    public double BackgroundWeight
    {
        get;
        init => field = Guard.NonNegative(value, nameof(BackgroundWeight));
    } = 2.0;

    /// <summary>
    /// T_obj, the temperature of the object part, in [<see cref="MinimumTemperature"/>, <see cref="MaximumTemperature"/>].
    /// Default 1.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside the accepted range.</exception>
    public double ObjectTemperature
    {
        get;
        init => field = Guard.Temperature(value, MinimumTemperature, MaximumTemperature, nameof(ObjectTemperature));
    } = 1.0;

    /// <summary>
    /// T_bg, the temperature of the background part, in [<see cref="MinimumTemperature"/>, <see cref="MaximumTemperature"/>].
    /// Default 1.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside the accepted range.</exception>
    public double BackgroundTemperature
    {
        get;
        init => field = Guard.Temperature(value, MinimumTemperature, MaximumTemperature, nameof(BackgroundTemperature));
    } = 1.0;
}
