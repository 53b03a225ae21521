using DeFeat.Hooks.Distillation;
using DeFeat.Losses;
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

    /// <summary>
    /// Throws naming the first disposed tensor of <paramref name="losses"/> (e.g. <c>losses.StudentInputs[neck][1]</c>):
    /// losses kept past the dispose scope of their step.
    /// </summary>
    public static void ThrowIfDisposed(DistillationLosses losses, string name)
    {
        Guard.Alive(losses.Total, $"{name}.{nameof(DistillationLosses.Total)}");
        foreach (var part in losses.Parts)
        {
            Guard.Alive(part.Value, $"{name}[{part.Name}]");
        }

        foreach (var level in losses.Levels)
        {
            Guard.Alive(level.Value, $"{name}.{nameof(DistillationLosses.Levels)}[{level.Name}]");
        }

        foreach (var (term, inputs) in losses.StudentInputs)
        {
            for (var level = 0; level < inputs.Count; level++)
            {
                Guard.Alive(inputs[level], $"{name}.{nameof(DistillationLosses.StudentInputs)}[{term}][{level}]");
            }
        }

        foreach (var (term, totals) in losses.LevelTotals)
        {
            for (var level = 0; level < totals.Count; level++)
            {
                Guard.Alive(totals[level], $"{name}.{nameof(DistillationLosses.LevelTotals)}[{term}][{level}]");
            }
        }
    }
}
