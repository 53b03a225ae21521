using System.Runtime.CompilerServices;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Recording;

/// <summary>The built-in conversions of a module output to its list of tensors (no tensor is created or copied).</summary>
internal static class TensorOutputs
{
    /// <summary>
    /// A <c>Tensor</c> → [it]; a <c>Tensor[]</c> / <c>IEnumerable&lt;Tensor&gt;</c> (e.g. <c>IList&lt;Tensor&gt;</c>) → its
    /// elements; a tuple (value or reference) whose items are all tensors → its items; anything else → null.
    /// </summary>
    public static IReadOnlyList<Tensor>? TryConvert(object? output)
        => output switch
        {
            Tensor tensor => [tensor],
            IEnumerable<Tensor> tensors => [.. tensors],
            ITuple tuple when Enumerable.Range(0, tuple.Length).All(index => tuple[index] is Tensor) =>
                [.. Enumerable.Range(0, tuple.Length).Select(index => (Tensor)tuple[index]!)],
            _ => null,
        };
}
