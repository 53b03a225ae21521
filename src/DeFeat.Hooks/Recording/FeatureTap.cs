using DeFeat.Hooks.Diagnostics;
using DeFeat.Hooks.Interception;
using DeFeat.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Recording;

/// <summary>
/// Records the output of the submodule at a dotted path (as <c>named_modules()</c> names it, e.g. <c>"neck"</c>,
/// <c>"backbone.layer3"</c> or <c>"neck.lateral_convs.0"</c>) of any TorchSharp model on every forward, as its list of
/// tensors (for an FPN neck: one [B, C, H_l, W_l] map per level, in the order the neck returns them).
/// </summary>
/// <remarks>
/// <para>
/// Works for any <c>nn.Module&lt;T1, ..., TResult&gt;</c>. Outputs that are a <c>Tensor</c>, a <c>Tensor[]</c>, an
/// <c>IList&lt;Tensor&gt;</c> (any <c>IEnumerable&lt;Tensor&gt;</c>) or a tuple of tensors are converted out of the
/// box; for anything else pass a selector. Each forward replaces the previous capture.
/// </para>
/// <para>
/// TorchSharp runs forward hooks only when a module is invoked with <c>call(...)</c>, never with <c>forward(...)</c>.
/// The default <see cref="TapMode.Auto"/> therefore records through a substitute in the parent's field (or list item)
/// whenever the model allows one, which sees both kinds of invocation, and falls back to a hook otherwise; see
/// <see cref="TapMode"/>.
/// </para>
/// <para>
/// Lifetime: the tap owns what it records: an alias of each output tensor (same storage, same autograd graph) that
/// no dispose scope frees, so a model whose forward opens its own dispose scope does not invalidate it. The aliases
/// are freed on <see cref="Clear"/>, on the next recording and on <see cref="Dispose"/>. Disposing the tap also
/// detaches it (removes its hook, or puts the original submodule back into every slot), leaving the model exactly
/// as before.
/// </para>
/// </remarks>
public sealed class FeatureTap : IDisposable
{
    private readonly Recorder recorder;
    private readonly TapSite site;
    private readonly string? hookFix;
    private IDisposable? attachment;

    /// <summary>Attaches a tap to the submodule at <paramref name="path"/> of <paramref name="model"/>.</summary>
    /// <param name="model">The model (teacher or student detector), any TorchSharp module.</param>
    /// <param name="path">Dotted path of the submodule, as <c>model.named_modules()</c> names it.</param>
    /// <param name="mode">How to attach; <see cref="TapMode.Auto"/> (default) picks what the model allows.</param>
    /// <param name="selector">
    /// Turns the submodule's output (boxed) into its tensors; null = the built-in conversions (Tensor, Tensor[],
    /// IList&lt;Tensor&gt;, tuples of tensors).
    /// </param>
    /// <exception cref="ArgumentNullException"><paramref name="model"/> or <paramref name="path"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// The path names no submodule (the message lists the five nearest valid paths); the submodule has no typed
    /// forward; or it cannot be tapped the requested way (<see cref="TapMode.Wrapper"/> or <see cref="TapMode.StandIn"/>
    /// where that substitute does not fit: the message names the slot, its declared type and the fix). Nothing is
    /// changed in the model then.
    /// </exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="mode"/> is not a <see cref="TapMode"/> value.</exception>
    /// <remarks>
    /// When a forward of the submodule returns null, a null tensor, a disposed tensor or an output the selector (or the
    /// built-in conversions) cannot turn into tensors, that forward throws an <see cref="InvalidOperationException"/>
    /// naming the path and the position of the tensor.
    /// </remarks>
    public FeatureTap(nn.Module model, string path, TapMode mode = TapMode.Auto, Func<object, IReadOnlyList<Tensor>>? selector = null)
        : this(model, path, mode, selector, new TapSite(nameof(path), Model: null))
    {
    }

    internal FeatureTap(nn.Module model, string path, TapMode mode, Func<object, IReadOnlyList<Tensor>>? selector, TapSite site, bool recordEveryCall = false)
    {
        Guard.NotNull(model, nameof(model));
        if (!Enum.IsDefined(mode))
        {
            throw new ArgumentOutOfRangeException(nameof(mode), mode, $"{nameof(mode)} must be Auto, Hook, Wrapper or StandIn; got {mode}.");
        }

        var target = ModulePath.Resolve(model, path, site);
        Path = path;
        this.site = site;
        recorder = new Recorder(this, selector, recordEveryCall);
        (attachment, Mode, hookFix) = ModuleInterception.Attach(target, mode, recorder, input: false, output: true, site);
    }

    /// <summary>The dotted path of the tapped submodule.</summary>
    public string Path { get; }

    /// <summary>How the tap is attached: <see cref="TapMode.Hook"/>, <see cref="TapMode.Wrapper"/> or <see cref="TapMode.StandIn"/> (what <see cref="TapMode.Auto"/> picked).</summary>
    public TapMode Mode { get; }

    /// <summary>Whether a forward of the submodule has been recorded since the last <see cref="Clear"/>.</summary>
    public bool HasCapture => recorder.Captured.Current is not null;

    /// <summary>
    /// The tensors the submodule returned in its latest forward (since the last <see cref="Clear"/>), in output order,
    /// e.g. [B, C, H_l, W_l] per FPN level: the tap's own aliases of them (same storage and autograd graph), valid
    /// until <see cref="Clear"/>, the next recording or <see cref="Dispose"/>. Do not dispose them.
    /// </summary>
    /// <exception cref="InvalidOperationException">
    /// Nothing was recorded: the model did not run, or (hook mode) its parent invoked the submodule with
    /// <c>forward(...)</c>, which TorchSharp runs without hooks. The message names the fix: <see cref="TapMode.Auto"/>
    /// where a substitute fits the parent's slot, else the one-line model change (the slot's declared type, or
    /// <c>.call(...)</c> instead of <c>.forward(...)</c> in the parent).
    /// </exception>
    /// <exception cref="ObjectDisposedException">The tap is disposed.</exception>
    public IReadOnlyList<Tensor> Features
    {
        get
        {
            ObjectDisposedException.ThrowIf(attachment is null, this);
            return recorder.Captured.Current ?? throw new InvalidOperationException(NothingCapturedMessage());
        }
    }

    /// <summary>
    /// While true the tap records nothing (the distiller suspends its taps while the models run for anything but a
    /// distillation step, e.g. a validation pass).
    /// </summary>
    internal bool Suspended { get; set; }

    /// <summary>
    /// How many forwards of the submodule were recorded since the last <see cref="Clear"/> (without every-call recording
    /// only the last one is kept: a caller that expects one call can tell that earlier ones were overwritten).
    /// </summary>
    internal int RecordedCalls => recorder.Calls;

    /// <summary>Forgets the recorded tensors and frees the tap's aliases of them (the model's own tensors are untouched).</summary>
    public void Clear()
    {
        recorder.Captured.Release();
        recorder.Calls = 0;
    }

    /// <summary>Detaches the tap (removes its hook, or restores the slots) and frees what it recorded.</summary>
    public void Dispose()
    {
        attachment?.Dispose();
        attachment = null;
        Clear();
    }

    private string NothingCapturedMessage()
        => Mode == TapMode.Hook
            ? $"The feature tap at {site.Describe(Path)} (TapMode.Hook) recorded nothing since it was attached or last cleared. Either the "
              + "model's forward has not run yet, or its parent invokes this submodule with .forward(...): TorchSharp runs forward hooks "
              + $"only when a module is invoked with .call(...), never with .forward(...). {hookFix}"
            : $"The feature tap at {site.Describe(Path)} ({Mode}) recorded nothing since it was attached or last cleared: the model's "
              + "forward has not run yet, or it did not invoke this submodule through the field or item that holds it.";

    /// <summary>Records each forward's tensors; with <paramref name="everyCall"/> it appends them to those of earlier calls since the last clear (a head shared by the levels, called once per level).</summary>
    private sealed class Recorder(FeatureTap owner, Func<object, IReadOnlyList<Tensor>>? selector, bool everyCall) : IModuleInterceptor
    {
        public OwnedTensors Captured { get; } = new();

        /// <summary>The forwards recorded since the last clear.</summary>
        public int Calls { get; set; }

        public object?[]? OnInput(object?[] arguments) => null;

        public void OnOutput(object? result)
        {
            if (owner.Suspended)
            {
                return;
            }

            if (result is null)
            {
                throw new InvalidOperationException($"The submodule at '{owner.Path}' returned null; a feature tap needs tensors.");
            }

            var tensors = selector is null
                ? TensorOutputs.TryConvert(result) ?? throw new InvalidOperationException(
                    $"The submodule at '{owner.Path}' returns {TypeNames.Of(result.GetType())}, which a feature tap cannot turn into "
                    + "tensors by itself (built in: Tensor, Tensor[], IList<Tensor>, tuples of tensors); pass a selector to the "
                    + "FeatureTap constructor.")
                : selector(result) ?? throw new InvalidOperationException(
                    $"The selector given for '{owner.Path}' returned null for its output ({TypeNames.Of(result.GetType())}); a selector "
                    + "must return the output's tensors.");
            ThrowIfNotAlive(tensors, result);
            if (everyCall)
            {
                Captured.Append(tensors);
            }
            else
            {
                Captured.Take(tensors);
            }

            Calls++;
        }

        /// <summary>A null or disposed tensor in the output is named by its position, before the tap takes an alias of any.</summary>
        private void ThrowIfNotAlive(IReadOnlyList<Tensor> tensors, object result)
        {
            for (var index = 0; index < tensors.Count; index++)
            {
                if (tensors[index] is { IsInvalid: false })
                {
                    continue;
                }

                var what = tensors[index] is null
                    ? "null"
                    : "a disposed tensor (its handle is empty: it was disposed, or the dispose scope it was created in closed, before the "
                      + "forward returned it)";
                var source = selector is null
                    ? $"The submodule at {owner.site.Describe(owner.Path)} returned {TypeNames.Of(result.GetType())} holding {tensors.Count} tensor(s)"
                    : $"The selector given for {owner.site.Describe(owner.Path)} returned {tensors.Count} tensor(s) for its output ({TypeNames.Of(result.GetType())})";
                throw new InvalidOperationException($"{source}, and tensor {index} is {what}; a feature tap needs a live tensor at every position.");
            }
        }
    }
}
