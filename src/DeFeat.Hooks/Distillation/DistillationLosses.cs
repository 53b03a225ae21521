using static TorchSharp.torch;

namespace DeFeat.Hooks.Distillation;

/// <summary>
/// The distillation losses of one training step: every term's parts by name (<c>{term}_{part}</c>, e.g.
/// <c>neck_object</c>, <c>neck_background</c>, <c>proposal_object</c>, <c>backbone_background</c>), each already multiplied
/// by its λ/β, the term's weight and the schedule's weight of the step; their sum <see cref="Total"/>; and, for
/// diagnostics, each level's share of the level-wise parts (<see cref="Levels"/>). All are 0-D float32 tensors (float64
/// for float64 inputs) with a gradient path to the student and the adaptation layers. Add <see cref="Total"/> to the
/// detector's own loss.
/// </summary>
/// <remarks>Immutable: <see cref="Total"/> is computed from the parts when the result is made, so it cannot go stale.</remarks>
public sealed class DistillationLosses
{
    private readonly Dictionary<string, Tensor> byName;

    internal DistillationLosses(
        IReadOnlyList<NamedLoss> parts,
        Tensor total,
        IReadOnlyDictionary<string, IReadOnlyList<NamedLoss>> levelsByPart,
        IReadOnlyDictionary<string, double> weights,
        IReadOnlyDictionary<string, IReadOnlyList<string>> partsByTerm,
        IReadOnlyDictionary<string, IReadOnlyList<Tensor>> studentInputs,
        IReadOnlyDictionary<string, IReadOnlyList<Tensor>> levelTotals)
    {
        LevelTotals = levelTotals;
        Parts = parts;
        Total = total;
        LevelsByPart = levelsByPart;
        Levels = [.. parts.SelectMany(part => levelsByPart[part.Name])];
        Weights = weights;
        PartsByTerm = partsByTerm;
        StudentInputs = studentInputs;
        byName = parts.ToDictionary(part => part.Name, part => part.Value);
    }

    /// <summary>The terms' parts in term order (a term's parts in the order its loss returns them); they sum to <see cref="Total"/>.</summary>
    public IReadOnlyList<NamedLoss> Parts { get; }

    /// <summary>The sum of <see cref="Parts"/>, a 0-D tensor: add it to the detector's own loss.</summary>
    public Tensor Total { get; }

    /// <summary>
    /// Each level's share of the level-wise parts, named <c>{term}_{part}[{level}]</c> (e.g. <c>neck_background[0]</c>, the
    /// finest FPN level; for a term with selected levels, the tap's output position: <c>backbone_object[2]</c>). A part's
    /// shares sum to it. For logging which level misbehaves; do not add them to the loss.
    /// </summary>
    public IReadOnlyList<NamedLoss> Levels { get; }

    /// <summary>
    /// <see cref="Levels"/> by part: for each part's name (as in <see cref="Parts"/>), its level shares in level order,
    /// empty for a part that is not a sum over levels (e.g. <c>proposal_object</c>).
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<NamedLoss>> LevelsByPart { get; }

    /// <summary>Each term's weight × schedule weight applied at this step, by term name.</summary>
    public IReadOnlyDictionary<string, double> Weights { get; }

    /// <summary>The names of each term's parts (as in <see cref="Parts"/>), by term name, in term order.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> PartsByTerm { get; }

    /// <summary>
    /// By term name, the student tensors that term's losses were computed from, one per level, as the student produced
    /// them (before any adaptation layer): a neck's or backbone's feature maps <c>[B, C, H, W]</c>, a dense head's score maps,
    /// an RoI head's logits <c>[R, K+1]</c>. They are where <c>GradientBalance</c> and <c>DistillationBalancer</c>
    /// compare the distillation gradient with the detector's own; they live in the
    /// caller's dispose scope like the losses.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<Tensor>> StudentInputs { get; }

    /// <summary>
    /// By term name, the term's loss per level: the sum over its parts of their level shares, one 0-D tensor per entry of
    /// <see cref="StudentInputs"/> (weighted like the parts; they sum to the term's total). Empty for a term whose loss is
    /// not a sum over its levels (the proposal KD term). What a per-level balance scales.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<Tensor>> LevelTotals { get; }

    /// <summary>The part named <paramref name="name"/> (e.g. <c>neck_object</c>).</summary>
    /// <param name="name">A part's name, as listed in <see cref="Parts"/>.</param>
    /// <exception cref="KeyNotFoundException">No part has that name; the message lists the names.</exception>
    public Tensor this[string name]
        => byName.TryGetValue(name, out var value)
            ? value
            : throw new KeyNotFoundException($"No distillation loss is named '{name}'; this step's losses are {string.Join(", ", byName.Keys)}.");

    /// <summary>Whether a part named <paramref name="name"/> exists this step.</summary>
    /// <param name="name">A part's name.</param>
    /// <returns>True when it does.</returns>
    public bool Contains(string name) => byName.ContainsKey(name);

    /// <summary>
    /// The parts by name, without <see cref="Total"/> (the values sum to it), for logging or for merging into a
    /// detector's loss dictionary.
    /// </summary>
    /// <returns>A new dictionary of the same tensors (not copies), in <see cref="Parts"/> order.</returns>
    public IReadOnlyDictionary<string, Tensor> ToDictionary() => Parts.ToDictionary(part => part.Name, part => part.Value);
}
