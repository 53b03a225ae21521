using DeFeat.Losses;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Terms;

/// <summary>
/// Where a term puts what it computed in a step: its parts (each appears as <c>{term}_{part}</c>), and the student tensors
/// the parts were computed from (where gradient diagnostics and the balancer measure).
/// </summary>
public sealed class TermLosses
{
    private readonly List<LossPart> parts = [];

    internal TermLosses()
    {
    }

    /// <summary>The parts added so far, in order.</summary>
    internal IReadOnlyList<LossPart> Parts => parts;

    /// <summary>The student tensors the parts read, one per level; empty until set.</summary>
    internal IReadOnlyList<Tensor> StudentInputs { get; private set; } = [];

    /// <summary>Adds a part (a 0-D loss, weighted by the loss's own λ/β, with its per-level shares if any).</summary>
    /// <param name="part">The part; its name must differ from the term's other parts.</param>
    /// <exception cref="ArgumentNullException"><paramref name="part"/> is null.</exception>
    public void Add(LossPart part) => parts.Add(Guard.NotNull(part, nameof(part)));

    /// <summary>Records the student tensors the parts read, one per level, as the student produced them (before any adaptation layer).</summary>
    /// <param name="inputs">The tensors (the term's own references; the distiller takes aliases).</param>
    /// <exception cref="ArgumentNullException"><paramref name="inputs"/> is null.</exception>
    public void SetStudentInputs(IReadOnlyList<Tensor> inputs) => StudentInputs = Guard.NotNull(inputs, nameof(inputs));
}
