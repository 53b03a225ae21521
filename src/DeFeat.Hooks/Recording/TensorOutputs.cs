using System.Runtime.CompilerServices;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Recording;

/// <summary>The built-in conversions of a module output to its list of tensors (no tensor is created or copied).</summary>
internal static class TensorOutputs
{
    /// <summary>
    /// A <c>Tensor</c> → [it]; a <c>Tensor[]</c> / <c>IEnumerable&lt;Tensor&gt;</c> (e.g. <c>IList&lt;Tensor&gt;</c>) → its
    /// elements; a tuple (value or reference) whose items are all tensors → its items; anything else → null. Null
    /// elements, and null items of a tuple whose item types are tensors, are kept (the tap names their position).
    /// </summary>
    public static IReadOnlyList<Tensor>? TryConvert(object? output)
        => output switch
        {
            Tensor tensor => [tensor],
            IEnumerable<Tensor> tensors => [.. tensors],
            ITuple tuple when IsTensorTuple(tuple) => [.. Enumerable.Range(0, tuple.Length).Select(index => (Tensor)tuple[index]!)],
            _ => null,
        };

    /// <summary>Every item is a tensor, or null where the tuple's type declares a tensor there.</summary>
    private static bool IsTensorTuple(ITuple tuple)
    {
        var itemTypes = tuple.GetType().GetGenericArguments();
        return Enumerable.Range(0, tuple.Length).All(index => tuple[index] is Tensor
            || (tuple[index] is null && index < itemTypes.Length && typeof(Tensor).IsAssignableFrom(itemTypes[index])));
    }
}
