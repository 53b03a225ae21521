using DeFeat.Losses.Masks;

namespace DeFeat.Hooks.Terms;

/// <summary>What a <see cref="FeatureTerm"/> taps, how it adapts and masks the features, which loss it applies, and its weight.</summary>
public sealed record FeatureTermOptions : DistillationTermOptions
{
    /// <inheritdoc />
    /// <remarks>E.g. <c>neck</c> → <c>neck_object</c>, <c>backbone</c> → <c>backbone_object</c>.</remarks>
    public override required string Name { get; init; }

    /// <summary>
    /// Dotted path of the teacher's submodule (as <c>named_modules()</c> names it, e.g. <c>"neck"</c> or <c>"backbone"</c>);
    /// its output: one [B, C_t,l, H_l, W_l] map per level (an FPN's levels, a backbone's stages).
    /// </summary>
    public required string TeacherPath { get; init; }

    /// <summary>Dotted path of the student's submodule; one [B, C_s,l, H_l, W_l] map per level, same sizes as the teacher's (for PKD, any sizes).</summary>
    public required string StudentPath { get; init; }

    /// <summary>
    /// The loss applied to the (selected, adapted) pair: <see cref="DecoupledFeatureTermLoss"/>, <see cref="PkdTermLoss"/>
    /// or your own <see cref="IFeatureTermLoss"/>.
    /// </summary>
    public required IFeatureTermLoss Loss { get; init; }

    /// <summary>
    /// Which of the tapped outputs take part, by position (e.g. [2, 3] for stages 3–4 of a backbone returning four
    /// stages); null = all of them. Levels are reported by these positions (<c>backbone_object[2]</c>).
    /// </summary>
    public IReadOnlyList<int>? Levels { get; init; }

    /// <summary>
    /// C_s,l of each selected level; together with <see cref="TeacherChannels"/> the term creates its adaptation layers
    /// (3×3 convs C_s,l → C_t,l, trained with the student, the term's parameters <c>{Name}.adapters.…</c>). Null (both) =
    /// no adaptation, the channel counts must match.
    /// </summary>
    public IReadOnlyList<long>? StudentChannels { get; init; }

    /// <summary>C_t,l of each selected level, for the adaptation layers; see <see cref="StudentChannels"/>.</summary>
    public IReadOnlyList<long>? TeacherChannels { get; init; }

    /// <summary>
    /// The object-mask rule for losses that use masks; null = <see cref="DeFeatMaskBuilder"/> (the official neck rule).
    /// For backbone stages the official rule is <see cref="BackboneMaskBuilder"/>.
    /// </summary>
    public ObjectMaskBuilder? MaskBuilder { get; init; }

    /// <summary>
    /// Stride of each selected level in input pixels per cell; null = derived each step as image height / feature height
    /// (and cross-checked with the width), which needs the image size in the distiller's call when the loss uses masks.
    /// </summary>
    public IReadOnlyList<double>? Strides { get; init; }
}
