using DeFeat.Hooks.Schedules;
using DeFeat.Losses.Adaptation;
using DeFeat.Losses.Masks;

namespace DeFeat.Hooks.Terms;

/// <summary>What a <see cref="FeatureTerm"/> taps, how it adapts and masks the features, which loss it applies, and its weight.</summary>
public sealed record FeatureTermOptions
{
    /// <summary>The term's name, the prefix of its losses (e.g. <c>neck</c> → <c>neck_object</c>, <c>backbone</c> → <c>backbone_object</c>).</summary>
    public required string Name { get; init; }

    /// <summary>
    /// Dotted path of the teacher's submodule (as <c>named_modules()</c> names it, e.g. <c>"neck"</c> or <c>"backbone"</c>);
    /// its output: one [B, C_t,l, H_l, W_l] map per level (an FPN's levels, a backbone's stages).
    /// </summary>
    public required string TeacherPath { get; init; }

    /// <summary>Dotted path of the student's submodule; one [B, C_s,l, H_l, W_l] map per level, same sizes as the teacher's (for PKD, any sizes).</summary>
    public required string StudentPath { get; init; }

    /// <summary>The loss applied to the (selected, adapted) pair.</summary>
    public required IFeatureTermLoss Loss { get; init; }

    /// <summary>
    /// Which of the tapped outputs take part, by position (e.g. [2, 3] for stages 3–4 of a backbone returning four
    /// stages); null = all of them. Levels are reported by these positions (<c>backbone_object[2]</c>).
    /// </summary>
    public IReadOnlyList<int>? Levels { get; init; }

    /// <summary>
    /// The adaptation layers applied to the student's selected maps (3×3 convs C_s,l → C_t,l, trained with the student;
    /// they become the term's parameters); null = none, the channel counts must match.
    /// </summary>
    public FeatureAdapters? Adapters { get; init; }

    /// <summary>
    /// The object-mask rule for losses that use masks; null = <see cref="DeFeatMaskBuilder"/> (the official neck rule).
    /// For backbone stages the official rule is <see cref="BackboneMaskBuilder"/>.
    /// </summary>
    public ObjectMaskBuilder? MaskBuilder { get; init; }

    /// <summary>
    /// Stride of each selected level in input pixels per cell; null = derived each step as image height / feature height
    /// (and cross-checked with the width).
    /// </summary>
    public IReadOnlyList<double>? Strides { get; init; }

    /// <summary>The term's weight (≥ 0) on top of the loss's own; default 1.</summary>
    public double Weight { get; init; } = 1;

    /// <summary>The weight over training; null = constant 1.</summary>
    public WeightSchedule? Schedule { get; init; }
}
