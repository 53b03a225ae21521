namespace DeFeat.Losses.Features;

/// <summary>
/// Weights of <see cref="DecoupledFeatureLoss"/>. The defaults λ_obj = 4, λ_bg = 16 are the authors' COCO setting;
/// their released VOC config uses λ_obj = 3, λ_bg = 12 (<see cref="Voc"/>).
/// </summary>
public sealed record DecoupledFeatureLossOptions
{
    /// <summary>The authors' COCO setting: λ_obj = 4, λ_bg = 16 (the defaults).</summary>
    public static DecoupledFeatureLossOptions Coco { get; } = new();

    /// <summary>The official VOC config: λ_obj = 3, λ_bg = 12.</summary>
    public static DecoupledFeatureLossOptions Voc { get; } = new() { ObjectWeight = 3.0, BackgroundWeight = 12.0 };

    /// <summary>λ_obj, the weight of the object-region term; finite, ≥ 0. Default 4.</summary>
    public double ObjectWeight
    {
        get;
        init => field = Guard.NonNegative(value, nameof(ObjectWeight));
    } = 4.0;

    /// <summary>λ_bg, the weight of the background-region term; finite, ≥ 0 (0 = object-only imitation). Default 16.</summary>
    public double BackgroundWeight
    {
        get;
        init => field = Guard.NonNegative(value, nameof(BackgroundWeight));
    } = 16.0;
}
