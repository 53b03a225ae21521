using DeFeat.Losses;

namespace DeFeat.Hooks.Balance;

/// <summary>Options of a <see cref="DistillationBalancer"/>.</summary>
public sealed record DistillationBalancerOptions
{
    /// <summary>
    /// ρ: the distillation gradient the balancer aims at, as a multiple of the task loss's gradient at the same student
    /// features (‖∂(s·L_kd)/∂x‖ = ρ·‖∂L_task/∂x‖); &gt; 0. Default 0.1 (RESULTS.md of the sample: the sweep that chose it).
    /// </summary>
    public double TargetRatio
    {
        get;
        init => field = Guard.Positive(value, nameof(TargetRatio));
    } = 0.1;

    /// <summary>
    /// Steps between two measurements (≥ 1; the first step is always measured). Each measurement costs a partial
    /// backward of the task loss and of each term down to the student's features; 10 keeps that to a few per cent of a
    /// step while following the adaptation layers as they learn.
    /// </summary>
    public int Interval
    {
        get;
        init => field = (int)Guard.Positive(value, nameof(Interval));
    } = 10;

    /// <summary>
    /// Weight of the previous average in the running averages of the two gradient norms, in [0, 1): 0 uses the latest
    /// measurement alone. Default 0.9 (about the last ten measurements).
    /// </summary>
    public double Smoothing
    {
        get;
        init => field = Guard.InRange(value, 0, Math.BitDecrement(1.0), nameof(Smoothing));
    } = 0.9;

    /// <summary>
    /// Whether each level of a term gets its own scale (default), or the whole term one. Per level, because the
    /// official loss averages the levels (1/L each), so a coarse level of a few cells carries as much loss as the finest
    /// level of thousands, while the detection gradient there is small: in the sample the imitation gradient at P6 was
    /// ~30× the detection gradient when at P2 it was 0.15× (RESULTS.md). A term whose loss has no level shares (the
    /// RoI-head term) always gets one scale.
    /// </summary>
    public bool PerLevel { get; init; } = true;

    /// <summary>
    /// The largest scale the balancer applies (&gt; 0). The default 1 makes it a guard that only ever scales
    /// distillation down from the weights the terms were given, never up: early in training, while the adaptation layers
    /// are near their 1e-4 initialisation, the distillation gradient is tiny and the terms act at their own weights.
    /// </summary>
    public double MaximumScale
    {
        get;
        init => field = Guard.Positive(value, nameof(MaximumScale));
    } = 1.0;

    /// <summary>
    /// Which parts of the terms the balancer scales, by the part's name after the term's (<c>"background"</c> for
    /// <c>neck_background</c>); the other parts act at their own weights, unscaled. Null (default): every part, which keeps
    /// each term's object/background ratio. <c>["background"]</c> holds only the background imitation at ρ and leaves the
    /// object imitation at its λ (the parts that reach every cell of every level are the ones that drown the task). Every
    /// name must be a part of at least one term (checked at the first step).
    /// </summary>
    /// <exception cref="ArgumentNullException">A name is null.</exception>
    /// <exception cref="ArgumentException">The list is empty, or a name is empty.</exception>
    public IReadOnlyList<string>? Parts
    {
        get;
        init
        {
            if (value is not null)
            {
                Guard.NotEmpty(value, nameof(Parts));
                for (var index = 0; index < value.Count; index++)
                {
                    if (string.IsNullOrEmpty(Guard.NotNull(value[index], $"{nameof(Parts)}[{index}]")))
                    {
                        throw new ArgumentException($"{nameof(Parts)}[{index}] is empty; name a part, e.g. \"background\".", $"{nameof(Parts)}[{index}]");
                    }
                }
            }

            field = value is null ? null : [.. value];
        }
    }
}
