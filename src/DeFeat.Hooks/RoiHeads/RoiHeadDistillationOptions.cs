using DeFeat.Hooks.RoiHeads;
using static TorchSharp.torch;

namespace DeFeat.Hooks.RoiHeads;

/// <summary>
/// Where the teacher's and the student's RoI heads are and how to read them, for DeFeat's decoupled proposal
/// classification KD in <see cref="Distillation.DeFeatDistiller"/>.
/// </summary>
public sealed record RoiHeadDistillationOptions
{
    /// <summary>Dotted path of the teacher's RoI head (its forward takes the sampled RoIs).</summary>
    public required string TeacherHeadPath { get; init; }

    /// <summary>Dotted path of the student's RoI head.</summary>
    public required string StudentHeadPath { get; init; }

    /// <summary>Where the RoIs and labels live in the teacher head's forward arguments (and the student's, unless <see cref="StudentArguments"/> is set).</summary>
    public required IRoiHeadArgumentMap Arguments { get; init; }

    /// <summary>Where the RoIs and labels live in the student head's arguments; null = <see cref="Arguments"/>.</summary>
    public IRoiHeadArgumentMap? StudentArguments { get; init; }

    /// <summary>Whose sampler picks the compared proposals; default <see cref="ProposalSampling.Teacher"/> (DeFeat's).</summary>
    public ProposalSampling Sampling { get; init; } = ProposalSampling.Teacher;

    /// <summary>
    /// Which tensor of a head's output (as a <see cref="Recording.FeatureTap"/> lists it: a tuple's items in order) holds
    /// the classification logits [R, K+1]; default 0.
    /// </summary>
    public int LogitsOutput { get; init; }

    /// <summary>Turns a head's output into its tensors when it is not a tensor, array, list or tuple of tensors; null = built in.</summary>
    public Func<object, IReadOnlyList<Tensor>>? OutputSelector { get; init; }
}
