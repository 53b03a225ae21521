using DeFeat.Hooks.Distillation;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Balance;

/// <summary>Gradients of a loss at a term's student tensors, the graph kept for the step's own backward.</summary>
internal static class FeatureGradients
{
    /// <summary>
    /// ∂<paramref name="loss"/>/∂x for each x of <paramref name="inputs"/> (zeros where the loss does not reach x), without
    /// touching any <c>.grad</c> and keeping the graph.
    /// </summary>
    public static Tensor[] Of(Tensor loss, IReadOnlyList<Tensor> inputs)
    {
        var reached = inputs.Select(input => loss.requires_grad && input.requires_grad).ToArray();
        var result = inputs.Select((input, i) => reached[i] ? null! : zeros_like(input)).ToArray();
        if (!reached.Any(r => r))
        {
            return result;
        }

        var positions = Enumerable.Range(0, inputs.Count).Where(i => reached[i]).ToArray();
        // The loss plus 0 · Σ x makes every input part of the graph, so that libtorch returns a (zero) gradient for the
        // inputs the loss does not reach instead of an undefined tensor.
        var anchored = loss;
        foreach (var i in positions)
        {
            anchored = anchored.add(inputs[i].sum().mul(HookScalars.Zero), HookScalars.One);
        }

        var gradients = torch.autograd.grad([anchored], [.. positions.Select(i => inputs[i])], retain_graph: true);
        for (var k = 0; k < positions.Length; k++)
        {
            result[positions[k]] = gradients[k];
        }

        return result;
    }
}
