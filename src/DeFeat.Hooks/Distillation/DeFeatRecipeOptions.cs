using DeFeat.Hooks.Schedules;
using DeFeat.Hooks.Terms;
using DeFeat.Losses.Features;
using DeFeat.Losses.Masks;

namespace DeFeat.Hooks.Distillation;

/// <summary>What <see cref="DeFeatRecipe"/> taps and how it weighs the losses: the neck term and, optionally, the proposal KD term.</summary>
public sealed record DeFeatRecipeOptions
{
    /// <summary>Dotted path of the teacher's neck (its output: one [B, C_t,l, H_l, W_l] map per FPN level, finest first).</summary>
    public required string TeacherNeckPath { get; init; }

    /// <summary>Dotted path of the student's neck (one [B, C_s,l, H_l, W_l] map per level, same sizes as the teacher's).</summary>
    public required string StudentNeckPath { get; init; }

    /// <summary>
    /// C_s,l per level; together with <see cref="TeacherChannels"/> the neck term creates its adaptation layers (3×3
    /// convs, <c>neck.adapters.…</c> of the distiller). Null (both) = no adaptation, the channel counts must match.
    /// </summary>
    public IReadOnlyList<long>? StudentChannels { get; init; }

    /// <summary>C_t,l per level, for the adaptation layers; see <see cref="StudentChannels"/>.</summary>
    public IReadOnlyList<long>? TeacherChannels { get; init; }

    /// <summary>λ_obj / λ_bg of the neck loss; null = <see cref="DecoupledFeatureLossOptions.Coco"/> (4 / 16).</summary>
    public DecoupledFeatureLossOptions? FeatureLoss { get; init; }

    /// <summary>The object-mask rule; null = <see cref="DeFeatMaskBuilder"/> (the official rule).</summary>
    public ObjectMaskBuilder? MaskBuilder { get; init; }

    /// <summary>
    /// Stride of each neck level in input pixels per cell; null = derived each step as image height / feature height,
    /// which needs the image size in the distiller's call (give them when feature sizes are rounded, e.g. for inputs not
    /// padded to a multiple of the coarsest stride, or to call the distiller without an image size).
    /// </summary>
    public IReadOnlyList<double>? Strides { get; init; }

    /// <summary>
    /// The weight over the steps of the neck term, and of the proposal KD term unless its own <see cref="DistillationTermOptions.Schedule"/>
    /// is set; null = <see cref="ConstantSchedule"/> with weight 1.
    /// </summary>
    public WeightSchedule? Schedule { get; init; }

    /// <summary>
    /// The proposal KD of two-stage detectors (the RoI heads, their arguments, the sampling, β / T); null = neck
    /// distillation only. Its term is named <see cref="DeFeatRecipe.ProposalTermName"/> unless it names itself.
    /// </summary>
    public ProposalKdTermOptions? ProposalKd { get; init; }
}
