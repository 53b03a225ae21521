using DeFeat.Hooks.Schedules;
using DeFeat.Losses.Dense;
using DeFeat.Losses.Masks;

namespace DeFeat.Hooks.Terms;

/// <summary>What a <see cref="DenseHeadKdTerm"/> taps, how it finds the object locations, and how it weighs the KD.</summary>
public sealed record DenseHeadKdTermOptions
{
    /// <summary>The term's name, the prefix of its losses; default <c>dense</c> (<c>dense_object</c>, <c>dense_background</c>).</summary>
    public string Name { get; init; } = "dense";

    /// <summary>
    /// Dotted path of the teacher's dense head (or of its classification conv, with <see cref="RecordEveryCall"/>), whose
    /// output holds the class scores [B, A·K, H_l, W_l] of every level.
    /// </summary>
    public required string TeacherHeadPath { get; init; }

    /// <summary>Dotted path of the student's dense head; same layout and sizes as the teacher's.</summary>
    public required string StudentHeadPath { get; init; }

    /// <summary>The head layout (K classes, A anchors per location), sigmoid or softmax, β and T of the object and background parts.</summary>
    public required DecoupledDenseKdLossOptions Loss { get; init; }

    /// <summary>
    /// Which item of the head's output holds the per-level class scores when it returns a tuple (e.g.
    /// <c>(List&lt;Tensor&gt; ClassScores, List&lt;Tensor&gt; BoxDeltas)</c>: 0, the default); an item may be a tensor or a
    /// list of tensors. Ignored when the output is a tensor or a list of tensors (all of them are the scores).
    /// </summary>
    public int ScoresItem { get; init; }

    /// <summary>
    /// Whether the taps record every call of the head in a step, in call order (for a classification conv shared by the
    /// levels and called once per level, as in many RetinaNet/FCOS heads); default false (the head's single call).
    /// </summary>
    public bool RecordEveryCall { get; init; }

    /// <summary>
    /// The rule that marks the object locations of each level ([B, H_l, W_l] weights in [0, 1]); null =
    /// <see cref="DeFeatMaskBuilder"/>. <see cref="AnchorIouMaskBuilder"/> marks them by anchor assignment (IoU with GT).
    /// </summary>
    public ObjectMaskBuilder? MaskBuilder { get; init; }

    /// <summary>Stride of each level in input pixels per cell; null = image height / score-map height (cross-checked with the width).</summary>
    public IReadOnlyList<double>? Strides { get; init; }

    /// <summary>The term's weight (≥ 0) on top of β; default 1.</summary>
    public double Weight { get; init; } = 1;

    /// <summary>The weight over training; null = constant 1.</summary>
    public KdWeightSchedule? Schedule { get; init; }
}
