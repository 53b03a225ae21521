using DeFeat.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Teacher;

/// <summary>
/// A frozen teacher detector: all its parameters have <c>requires_grad = false</c>, and every forward run through
/// <see cref="Run{TResult}"/> happens in eval mode under <c>no_grad</c>, so its outputs carry no autograd graph
/// (<c>requires_grad</c> false, no <c>grad_fn</c>: detached) and its BatchNorm running statistics never change.
/// </summary>
/// <remarks>
/// Eval mode is re-applied before each run, so the teacher's BatchNorm stays in eval even when the user calls
/// <c>train()</c> on a wrapper module that contains the teacher. The student is never touched: its train/eval mode is
/// whatever the user sets.
/// </remarks>
public sealed class FrozenTeacher
{
    /// <summary>Freezes <paramref name="module"/>: eval mode and <c>requires_grad = false</c> on every parameter.</summary>
    /// <param name="module">The teacher model, any TorchSharp module.</param>
    /// <exception cref="ArgumentNullException"><paramref name="module"/> is null.</exception>
    public FrozenTeacher(nn.Module module)
    {
        Module = Guard.NotNull(module, nameof(module));
        foreach (var parameter in module.parameters())
        {
            parameter.requires_grad = false;
        }

        module.eval();
    }

    /// <summary>The frozen teacher model.</summary>
    public nn.Module Module { get; }

    /// <summary>
    /// Runs a forward of the teacher in eval mode under <c>no_grad</c>, e.g. <c>teacher.Run(() =&gt; model.call(images))</c>.
    /// Taps attached to the teacher record during this call.
    /// </summary>
    /// <typeparam name="TResult">The forward's result type.</typeparam>
    /// <param name="forward">The forward call of the teacher model.</param>
    /// <returns>The forward's result; its tensors do not require gradients.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="forward"/> is null.</exception>
    public TResult Run<TResult>(Func<TResult> forward)
    {
        Guard.NotNull(forward, nameof(forward));
        Module.eval();
        using var noGrad = torch.no_grad();
        return forward();
    }
}
