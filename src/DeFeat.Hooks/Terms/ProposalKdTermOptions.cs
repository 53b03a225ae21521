using DeFeat.Hooks.Recording;
using DeFeat.Hooks.RoiHeads;
using DeFeat.Losses.Proposals;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Terms;

/// <summary>
/// What a <see cref="ProposalKdTerm"/> taps and relays, and how it weighs the proposal KD: where the two RoI heads are,
/// how their arguments hold the RoIs and labels, whose sampler picks the proposals, and β / T of the loss.
/// </summary>
public sealed record ProposalKdTermOptions : DistillationTermOptions
{
    /// <inheritdoc />
    /// <remarks>Default <c>proposal</c> (<c>proposal_object</c>, <c>proposal_background</c>).</remarks>
    public override string Name { get; init; } = "proposal";

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
    /// Which tensor of a head's output (as a <see cref="FeatureTap"/> lists it: a tuple's items in order) holds the
    /// classification logits [R, K+1]; default 0.
    /// </summary>
    public int LogitsOutput { get; init; }

    /// <summary>Turns a head's output into its tensors when it is not a tensor, array, list or tuple of tensors; null = built in.</summary>
    public Func<object, IReadOnlyList<Tensor>>? OutputSelector { get; init; }

    /// <summary>β / T / background index of the proposal KD; null = defaults (β 2 / 2, T 1, background = last column).</summary>
    public DecoupledProposalKdLossOptions? Loss { get; init; }
}
