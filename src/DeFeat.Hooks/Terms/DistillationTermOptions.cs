using DeFeat.Hooks.Schedules;

namespace DeFeat.Hooks.Terms;

/// <summary>
/// What every term's options have in common: its name, its weight and the weight's schedule. Each kind of term derives
/// its own options from it (<see cref="FeatureTermOptions"/>, <see cref="ProposalKdTermOptions"/>,
/// <see cref="DenseHeadKdTermOptions"/>, or yours for a term of your own).
/// </summary>
/// <remarks>Options hold no module and no tensor: a term creates the modules it needs, so <c>with</c> copies never share one.</remarks>
public abstract record DistillationTermOptions
{
    /// <summary>
    /// The term's name: the prefix of its losses (<c>{Name}_{part}</c>, e.g. <c>neck</c> → <c>neck_object</c>) and of its
    /// parameters under the distiller; letters, digits and '_', unique within a distiller.
    /// </summary>
    public abstract string Name { get; init; }

    /// <summary>The term's weight (≥ 0), multiplied into every loss of the term on top of the loss's own λ/β; default 1.</summary>
    public double Weight { get; init; } = 1;

    /// <summary>The weight over training, evaluated at the distiller's step; null = constant 1.</summary>
    public WeightSchedule? Schedule { get; init; }
}
