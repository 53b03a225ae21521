using static TorchSharp.torch;

namespace DeFeat.Hooks.Distillation;

/// <summary>
/// The DeFeat losses of one training step, each already multiplied by its λ/β weight and by the schedule's weight of
/// the step: 0-D float32 tensors (float64 for float64 features or logits) with a gradient path to the student and the
/// adaptation layers. Add <see cref="Total"/> to the detector's own loss.
/// </summary>
/// <param name="NeckObject"><c>neck_object</c>: the object-region neck-feature term.</param>
/// <param name="NeckBackground"><c>neck_background</c>: the background neck-feature term.</param>
/// <param name="ProposalObject"><c>proposal_object</c>: the positive-proposal KD term; null without RoI-head distillation.</param>
/// <param name="ProposalBackground"><c>proposal_background</c>: the background-proposal KD term; null without RoI-head distillation.</param>
/// <param name="Total">The sum of the terms above.</param>
/// <param name="Weight">The schedule's weight applied at this step.</param>
public sealed record DistillationLosses(
    Tensor NeckObject,
    Tensor NeckBackground,
    Tensor? ProposalObject,
    Tensor? ProposalBackground,
    Tensor Total,
    double Weight)
{
    /// <summary>Name of <see cref="NeckObject"/> in <see cref="ToDictionary"/>.</summary>
    public const string NeckObjectName = "neck_object";

    /// <summary>Name of <see cref="NeckBackground"/> in <see cref="ToDictionary"/>.</summary>
    public const string NeckBackgroundName = "neck_background";

    /// <summary>Name of <see cref="ProposalObject"/> in <see cref="ToDictionary"/>.</summary>
    public const string ProposalObjectName = "proposal_object";

    /// <summary>Name of <see cref="ProposalBackground"/> in <see cref="ToDictionary"/>.</summary>
    public const string ProposalBackgroundName = "proposal_background";

    /// <summary>Name of <see cref="Total"/> in <see cref="ToDictionary"/>.</summary>
    public const string TotalName = "total";

    /// <summary>
    /// The terms by name (<c>neck_object</c>, <c>neck_background</c>, then <c>proposal_object</c> and
    /// <c>proposal_background</c> when present, and <c>total</c>), for logging or for summing into a loss dictionary.
    /// </summary>
    /// <returns>A new dictionary of the same tensors (not copies).</returns>
    public IReadOnlyDictionary<string, Tensor> ToDictionary()
    {
        var named = new Dictionary<string, Tensor> { [NeckObjectName] = NeckObject, [NeckBackgroundName] = NeckBackground };
        if (ProposalObject is not null && ProposalBackground is not null)
        {
            named[ProposalObjectName] = ProposalObject;
            named[ProposalBackgroundName] = ProposalBackground;
        }

        named[TotalName] = Total;
        return named;
    }
}
