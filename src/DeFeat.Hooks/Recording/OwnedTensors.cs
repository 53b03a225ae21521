using static TorchSharp.torch;

namespace DeFeat.Hooks.Recording;

/// <summary>
/// Tensors a tap or relay keeps past the forward that produced them: for each recorded tensor its own alias (a new
/// handle to the same tensor: same storage, same autograd graph) taken out of every dispose scope, so the capture
/// stays valid whatever scope the model's forward opened and closed. The aliases are freed on the next
/// <see cref="Take"/> and on <see cref="Release"/>; the model's own tensors are never touched.
/// </summary>
internal sealed class OwnedTensors
{
    private Tensor[] owned = [];

    /// <summary>The aliases taken by the latest <see cref="Take"/>, or null after <see cref="Release"/>.</summary>
    public IReadOnlyList<Tensor>? Current { get; private set; }

    /// <summary>Frees the previous aliases and takes an alias of each of <paramref name="tensors"/>, in order.</summary>
    public IReadOnlyList<Tensor> Take(IEnumerable<Tensor> tensors)
    {
        Release();
        owned = [.. tensors.Select(tensor => tensor.alias().DetachFromDisposeScope())];
        Current = owned;
        return owned;
    }

    /// <summary>Keeps the previous aliases and adds an alias of each of <paramref name="tensors"/> after them.</summary>
    public IReadOnlyList<Tensor> Append(IEnumerable<Tensor> tensors)
    {
        owned = [.. owned, .. tensors.Select(tensor => tensor.alias().DetachFromDisposeScope())];
        Current = owned;
        return owned;
    }

    /// <summary>Frees the aliases (the tensors they alias live on as long as their other owners keep them).</summary>
    public void Release()
    {
        foreach (var tensor in owned)
        {
            tensor.Dispose();
        }

        owned = [];
        Current = null;
    }
}
