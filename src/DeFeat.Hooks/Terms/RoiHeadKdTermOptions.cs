using DeFeat.Hooks.RoiHeads;
using DeFeat.Hooks.Schedules;
using DeFeat.Losses.Proposals;

namespace DeFeat.Hooks.Terms;

/// <summary>What a <see cref="RoiHeadKdTerm"/> taps and relays, and how it weighs the proposal KD.</summary>
public sealed record RoiHeadKdTermOptions
{
    /// <summary>The term's name, the prefix of its losses; default <c>proposal</c> (<c>proposal_object</c>, <c>proposal_background</c>).</summary>
    public string Name { get; init; } = "proposal";

    /// <summary>Where the two RoI heads are, how their arguments hold the RoIs and labels, and whose sampler picks the proposals.</summary>
    public required RoiHeadDistillationOptions Heads { get; init; }

    /// <summary>β / T / background index of the proposal KD; null = defaults (β 2 / 2, T 1, background = last column).</summary>
    public DecoupledProposalKdLossOptions? Loss { get; init; }

    /// <summary>The term's weight (≥ 0) on top of β; default 1.</summary>
    public double Weight { get; init; } = 1;

    /// <summary>The weight over training; null = constant 1.</summary>
    public WeightSchedule? Schedule { get; init; }
}
