using static TorchSharp.torch;

namespace DeFeat.Hooks.Terms;

/// <summary>
/// The losses one term adds in a step: its parts (named <c>{term}_{part}</c>), each part's per-level shares, and the
/// student tensors the parts were computed from (where gradient diagnostics measure).
/// </summary>
internal sealed class TermLosses
{
    private readonly List<(string Part, Tensor Value, IReadOnlyList<Tensor> ByLevel)> parts = [];

    /// <summary>The parts added so far, in order.</summary>
    public IReadOnlyList<(string Part, Tensor Value, IReadOnlyList<Tensor> ByLevel)> Parts => parts;

    /// <summary>Adds a part: a 0-D loss tensor and its per-level shares (empty when the loss is not a sum over levels).</summary>
    public void Add(string part, Tensor value, IReadOnlyList<Tensor>? byLevel = null) => parts.Add((part, value, byLevel ?? []));

    /// <summary>The student tensors the parts read, one per level (before any adaptation layer); empty until set.</summary>
    public IReadOnlyList<Tensor> StudentInputs { get; private set; } = [];

    /// <summary>Records the student tensors the parts read (the term's own references; the distiller takes aliases).</summary>
    public void SetStudentInputs(IReadOnlyList<Tensor> inputs) => StudentInputs = inputs;
}
