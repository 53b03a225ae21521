using DeFeat.Losses.Dense;
using DeFeat.Losses.Masks;

namespace DeFeat.Hooks.Terms;

/// <summary>What a <see cref="DenseHeadKdTerm"/> taps, how it finds the object locations, and how it weighs the KD.</summary>
public sealed record DenseHeadKdTermOptions : DistillationTermOptions
{
    /// <inheritdoc />
    /// <remarks>Default <c>dense</c> (<c>dense_object</c>, <c>dense_background</c>).</remarks>
    public override string Name { get; init; } = "dense";

    /// <summary>
    /// Dotted path of the teacher's dense head (or of a module it calls once per level, with <see cref="RecordEveryCall"/>),
    /// whose output holds the class scores of every level, written as <see cref="Layout"/> says.
    /// </summary>
    public required string TeacherHeadPath { get; init; }

    /// <summary>Dotted path of the student's dense head; same layout and sizes as the teacher's.</summary>
    public required string StudentHeadPath { get; init; }

    /// <summary>
    /// How the heads write their class scores: one [B, A·K, H_l, W_l] map per level (<see cref="DenseScoreLayout.PerLevelMaps"/>,
    /// the default), one [B, H_l·W_l·A, K] tensor per level (<see cref="DenseScoreLayout.FlattenedPerLevel"/>, e.g. ML.NET's
    /// AutoFormerV2 <c>RetinaHead</c>) or one [B, Σ_l H_l·W_l·A, K] tensor for all levels
    /// (<see cref="DenseScoreLayout.Concatenated"/>). The flattened layouts need <see cref="Strides"/>.
    /// </summary>
    public DenseScoreLayout Layout { get; init; } = DenseScoreLayout.PerLevelMaps;

    /// <summary>
    /// Whether the scores are logits (<see cref="DenseScoreKind.Logits"/>, the default) or probabilities after the head's
    /// sigmoid or softmax (<see cref="DenseScoreKind.Probabilities"/>: turned back into logits, finite at exactly 0 and 1).
    /// </summary>
    public DenseScoreKind ScoreKind { get; init; } = DenseScoreKind.Logits;

    /// <summary>The head layout (K classes, A anchors per location), sigmoid or softmax, β and T of the object and background parts.</summary>
    public required DecoupledDenseKdLossOptions Loss { get; init; }

    /// <summary>
    /// Which item of the head's output holds the per-level class scores when it returns a tuple (e.g.
    /// <c>(List&lt;Tensor&gt; ClassScores, List&lt;Tensor&gt; BoxDeltas)</c>: 0, the default); an item may be a tensor or a
    /// list of tensors. Ignored when the output is a tensor or a list of tensors (all of them are the scores).
    /// </summary>
    public int ScoresItem { get; init; }

    /// <summary>
    /// Whether the taps record every call of the head in a step, in call order, one level per call (for a module shared
    /// by the levels and called once per level, as in many RetinaNet/FCOS heads); default false (the head's single call:
    /// a tapped module that runs more than once between two <c>distiller.call</c>s is then an error, not a silent
    /// distillation of its last call). Not with <see cref="DenseScoreLayout.Concatenated"/>, whose single tensor holds every
    /// level.
    /// </summary>
    public bool RecordEveryCall { get; init; }

    /// <summary>
    /// The rule that marks the object locations of each level ([B, H_l, W_l] weights in [0, 1]); null =
    /// <see cref="DeFeatMaskBuilder"/>. <see cref="AnchorIouMaskBuilder"/> marks them by anchor assignment (IoU with GT).
    /// </summary>
    public ObjectMaskBuilder? MaskBuilder { get; init; }

    /// <summary>
    /// Stride s_l of each level in input pixels per cell (finite, &gt; 0), finest level first; null = image height /
    /// score-map height (cross-checked with the width). Required with the flattened layouts
    /// (<see cref="DenseScoreLayout.FlattenedPerLevel"/>, <see cref="DenseScoreLayout.Concatenated"/>), whose tensors do not say
    /// their H_l × W_l: level l is then ⌈H / s_l⌉ × ⌈W / s_l⌉ cells of the H × W batch (the <c>imageSize</c> of
    /// <c>distiller.call</c>, which these layouts need), e.g. [8, 16, 32, 64, 128] for RetinaNet's P3–P7.
    /// </summary>
    public IReadOnlyList<double>? Strides { get; init; }
}
