namespace FasterRcnnDistillation.Distillation;

/// <summary>
/// What the distilled student imitates: the neck loss weights λ_obj / λ_bg (VOC config 3 / 12 by default) and the
/// optional decoupled proposal KD (β_obj = β_bg = 2, T = 1).
/// </summary>
public sealed record DistillationSettings
{
    public double NeckObjectWeight { get; init; } = 3;

    public double NeckBackgroundWeight { get; init; } = 12;

    public bool ProposalKd { get; init; } = true;

    public double ProposalObjectWeight { get; init; } = 2;

    public double ProposalBackgroundWeight { get; init; } = 2;
}
