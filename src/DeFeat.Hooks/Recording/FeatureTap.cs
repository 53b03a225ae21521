using DeFeat.Hooks.Interception;
using DeFeat.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Recording;

/// <summary>
/// Records the output of the submodule at a dotted path (as <c>named_modules()</c> names it, e.g. <c>"neck"</c> or
/// <c>"backbone.layer3"</c>) of any TorchSharp model on every forward, as its list of tensors (for an FPN neck: one
/// [B, C, H_l, W_l] map per level, in the order the neck returns them).
/// </summary>
/// <remarks>
/// <para>
/// Works for any <c>nn.Module&lt;T1, ..., TResult&gt;</c>. Outputs that are a <c>Tensor</c>, a <c>Tensor[]</c>, an
/// <c>IList&lt;Tensor&gt;</c> (any <c>IEnumerable&lt;Tensor&gt;</c>) or a tuple of tensors are converted out of the
/// box; for anything else pass a selector. Each forward replaces the previous capture.
/// </para>
/// <para>
/// TorchSharp runs forward hooks only when a module is invoked with <c>call(...)</c>, never with <c>forward(...)</c>.
/// With <see cref="TapMode.Hook"/> (the default) a parent that calls <c>neck.forward(x)</c> therefore records nothing,
/// and <see cref="Features"/> says so; <see cref="TapMode.Wrapper"/> handles such parents by swapping the parent's
/// field for a transparent recording wrapper.
/// </para>
/// <para>
/// Lifetime: the tap holds references to the module's own output tensors (no copies). They belong to the dispose
/// scope the forward ran in and are valid for that step only; <see cref="Clear"/> drops them. Disposing the tap
/// removes its hook (or puts the original module back into the parent's field), leaving the model exactly as before.
/// </para>
/// </remarks>
public sealed class FeatureTap : IDisposable
{
    private readonly Recorder recorder;
    private IDisposable? attachment;

    /// <summary>Attaches a tap to the submodule at <paramref name="path"/> of <paramref name="model"/>.</summary>
    /// <param name="model">The model (teacher or student detector), any TorchSharp module.</param>
    /// <param name="path">Dotted path of the submodule, as <c>model.named_modules()</c> names it.</param>
    /// <param name="mode">Hook (default) or Wrapper (for parents that call <c>forward(...)</c> on the submodule).</param>
    /// <param name="selector">
    /// Turns the submodule's output (boxed) into its tensors; null = the built-in conversions (Tensor, Tensor[],
    /// IList&lt;Tensor&gt;, tuples of tensors).
    /// </param>
    /// <exception cref="ArgumentNullException"><paramref name="model"/> or <paramref name="path"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// The path names no submodule (the message lists the five nearest valid paths); the submodule has no typed
    /// forward; or, in wrapper mode, the parent has no field holding it that a wrapper can replace.
    /// </exception>
    public FeatureTap(nn.Module model, string path, TapMode mode = TapMode.Hook, Func<object, IReadOnlyList<Tensor>>? selector = null)
    {
        Guard.NotNull(model, nameof(model));
        var target = ModulePath.Resolve(model, path, nameof(path));
        Path = path;
        Mode = mode;
        recorder = new Recorder(this, selector);
        attachment = ModuleInterception.Attach(target, mode, recorder, input: false, output: true, nameof(path));
    }

    /// <summary>The dotted path of the tapped submodule.</summary>
    public string Path { get; }

    /// <summary>How the tap is attached.</summary>
    public TapMode Mode { get; }

    /// <summary>Whether a forward of the submodule has been recorded since the last <see cref="Clear"/>.</summary>
    public bool HasCapture => recorder.Captured is not null;

    /// <summary>
    /// The tensors the submodule returned in its latest forward (since the last <see cref="Clear"/>), in output order,
    /// e.g. [B, C, H_l, W_l] per FPN level. They are the module's own tensors, valid for the current step.
    /// </summary>
    /// <exception cref="InvalidOperationException">
    /// Nothing was recorded: the model did not run, or (hook mode) its parent invoked the submodule with
    /// <c>forward(...)</c>, which TorchSharp runs without hooks. The message explains the fix.
    /// </exception>
    /// <exception cref="ObjectDisposedException">The tap is disposed.</exception>
    public IReadOnlyList<Tensor> Features
    {
        get
        {
            ObjectDisposedException.ThrowIf(attachment is null, this);
            return recorder.Captured ?? throw new InvalidOperationException(NothingCapturedMessage());
        }
    }

    /// <summary>Forgets the recorded tensors (they are not disposed: they belong to the forward's dispose scope).</summary>
    public void Clear() => recorder.Captured = null;

    /// <summary>Removes the hook (or restores the parent's field) and forgets the recorded tensors.</summary>
    public void Dispose()
    {
        attachment?.Dispose();
        attachment = null;
        Clear();
    }

    private string NothingCapturedMessage()
        => Mode == TapMode.Hook
            ? $"The feature tap at '{Path}' recorded nothing since it was attached or last cleared. Either the model's forward "
              + "has not run yet, or its parent invokes this submodule with .forward(...): TorchSharp runs forward hooks only "
              + $"when a module is invoked with .call(...), never with .forward(...). Fix: attach the tap with TapMode.Wrapper "
              + $"(it swaps the parent's field for a recording wrapper), or change the parent to call '{Path}' with .call(...)."
            : $"The feature tap at '{Path}' (wrapper mode) recorded nothing since it was attached or last cleared: the model's "
              + "forward has not run yet, or it did not use the field that holds this submodule.";

    private sealed class Recorder(FeatureTap owner, Func<object, IReadOnlyList<Tensor>>? selector) : IModuleInterceptor
    {
        public IReadOnlyList<Tensor>? Captured { get; set; }

        public object?[]? OnInput(object?[] arguments) => null;

        public void OnOutput(object? result)
        {
            if (result is null)
            {
                throw new InvalidOperationException($"The submodule at '{owner.Path}' returned null; a feature tap needs tensors.");
            }

            Captured = selector is null
                ? TensorOutputs.TryConvert(result) ?? throw new InvalidOperationException(
                    $"The submodule at '{owner.Path}' returns {result.GetType().Name}, which a feature tap cannot turn into "
                    + "tensors by itself (built in: Tensor, Tensor[], IList<Tensor>, tuples of tensors); pass a selector to the "
                    + "FeatureTap constructor.")
                : selector(result);
        }
    }
}
