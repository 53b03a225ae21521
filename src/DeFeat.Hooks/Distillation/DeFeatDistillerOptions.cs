using DeFeat.Hooks.Recording;
using DeFeat.Hooks.RoiHeads;
using DeFeat.Hooks.Schedules;
using DeFeat.Losses.Features;
using DeFeat.Losses.Masks;
using DeFeat.Losses.Proposals;

namespace DeFeat.Hooks.Distillation;

/// <summary>What <see cref="DeFeatDistiller"/> taps and how it weighs the losses.</summary>
public sealed record DeFeatDistillerOptions
{
    /// <summary>Dotted path of the teacher's neck (its output: one [B, C_t,l, H_l, W_l] map per FPN level, finest first).</summary>
    public required string TeacherNeckPath { get; init; }

    /// <summary>Dotted path of the student's neck (one [B, C_s,l, H_l, W_l] map per level, same sizes as the teacher's).</summary>
    public required string StudentNeckPath { get; init; }

    /// <summary>How the teacher's submodules are tapped; <see cref="TapMode.Auto"/> (default) picks what the model allows.</summary>
    public TapMode TeacherTapMode { get; init; } = TapMode.Auto;

    /// <summary>How the student's submodules are tapped; <see cref="TapMode.Auto"/> (default) picks what the model allows.</summary>
    public TapMode StudentTapMode { get; init; } = TapMode.Auto;

    /// <summary>
    /// C_s,l per level; together with <see cref="TeacherChannels"/> it creates the adaptation layers (3×3 convs, owned
    /// by the distiller). Null (both) = no adaptation, the channel counts must match.
    /// </summary>
    public IReadOnlyList<long>? StudentChannels { get; init; }

    /// <summary>C_t,l per level, for the adaptation layers; see <see cref="StudentChannels"/>.</summary>
    public IReadOnlyList<long>? TeacherChannels { get; init; }

    /// <summary>λ_obj / λ_bg of the neck loss; null = <see cref="DecoupledFeatureLossOptions.Coco"/> (4 / 16).</summary>
    public DecoupledFeatureLossOptions? FeatureLoss { get; init; }

    /// <summary>β / T / background index of the proposal KD; null = defaults (β 2 / 2, T 1, background = last column).</summary>
    public DecoupledProposalKdLossOptions? ProposalLoss { get; init; }

    /// <summary>The object-mask rule; null = <see cref="DeFeatMaskBuilder"/> (the official rule).</summary>
    public ObjectMaskBuilder? MaskBuilder { get; init; }

    /// <summary>
    /// Stride of each level in input pixels per cell; null = derived each step as image height / feature height
    /// (give them when feature sizes are rounded, e.g. for inputs not padded to a multiple of the coarsest stride).
    /// </summary>
    public IReadOnlyList<double>? Strides { get; init; }

    /// <summary>KD weight over the steps; null = <see cref="ConstantSchedule"/> with weight 1.</summary>
    public WeightSchedule? Schedule { get; init; }

    /// <summary>RoI heads for the proposal KD (two-stage detectors); null = neck distillation only.</summary>
    public RoiHeadDistillationOptions? RoiHeads { get; init; }

    /// <summary>
    /// Whether each call checks that the losses are finite (one host read of the total per step) and, when they are
    /// not, throws an <see cref="InvalidOperationException"/> naming the non-finite terms and the first level (and
    /// whose tensor: student or teacher features, mask, adaptation layer, RoI logits) that makes them so. For chasing
    /// a NaN; default false (no host read).
    /// </summary>
    public bool CheckFinite { get; init; }
}
