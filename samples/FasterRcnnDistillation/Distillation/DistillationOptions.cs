using DeFeat.Hooks.Terms;
using DeFeat.Hooks.Schedules;
using FasterRcnnDistillation.Model;

namespace FasterRcnnDistillation.Distillation;

/// <summary>
/// What the distilled student imitates: the neck loss weights λ_obj / λ_bg (VOC config 3 / 12 by default) and the
/// optional decoupled proposal KD (β_obj = β_bg = 2, T = 1), and the canonical size of the object masks' level rule.
/// </summary>
public sealed record DistillationOptions
{
    public double NeckObjectWeight { get; init; } = 3;

    public double NeckBackgroundWeight { get; init; } = 12;

    public bool ProposalKd { get; init; } = true;

    /// <summary>Whether the teacher is a bfloat16 model: the images are cast to bfloat16 for its forward (neck imitation only).</summary>
    public bool TeacherBfloat16 { get; init; }

    public double ProposalObjectWeight { get; init; } = 2;

    public double ProposalBackgroundWeight { get; init; } = 2;

    /// <summary>The KD weight over training (every term); null = constant.</summary>
    public WeightSchedule? Schedule { get; init; }

    /// <summary>
    /// ρ of a <c>DistillationBalancer</c> (each term's gradient at the student's features held at most ρ times the detection
    /// loss's); null = no balancer, the terms act at their λ.
    /// </summary>
    public double? BalanceRatio { get; init; }

    /// <summary>Whether the balancer scales each neck level on its own (default) or the whole neck term with one scale.</summary>
    public bool BalancePerLevel { get; init; } = true;

    /// <summary>Whether the balancer scales only the neck's background part (the object part acts at its λ); default false, both parts.</summary>
    public bool BalanceBackgroundOnly { get; init; }

    /// <summary>
    /// A second, untouched copy of the teacher (frozen by hand: eval, no gradients; no taps, no relay) that the step
    /// profile runs on the same batch right after the distillation's teacher run, as the bare-inference reference of
    /// the teacher's part (<c>FRCNN_STEP_PROFILE=1</c> only: it draws from the same random stream for its RoI sampling,
    /// so a profiled run's numbers are not those of an unprofiled one); null = none.
    /// </summary>
    public FasterRcnn? ReferenceTeacher { get; init; }

    /// <summary>CSV file of the gradient-balance diagnostic (<c>GradientBalance</c>) and the teacher's feature energy; null = none.</summary>
    public string? DiagnosticsFile { get; init; }

    /// <summary>Steps between two diagnostics (with <see cref="DiagnosticsFile"/>); the first step is always diagnosed.</summary>
    public int DiagnoseEvery { get; init; } = 50;

    /// <summary>
    /// Canonical size c (px) of <c>DeFeatMaskBuilder</c>'s level rule: a box of sqrt-area below 2c marks P2, 2c–4c P3,
    /// and so on. The official 56 is for ~800 px inputs; <see cref="ForImageSize"/> scales it to the input, so that the
    /// objects of a 96 px image spread over P2–P4 as those of a COCO image spread over the levels.
    /// </summary>
    public double MaskCanonicalSize { get; init; } = 56;

    /// <summary>The official canonical size 56 px scaled from 800 px to <paramref name="imageSize"/> px: 56 · S / 800.</summary>
    public static double ForImageSize(int imageSize) => 56.0 * imageSize / 800;
}
