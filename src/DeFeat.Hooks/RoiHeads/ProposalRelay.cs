using DeFeat.Hooks.Diagnostics;
using DeFeat.Hooks.Interception;
using DeFeat.Hooks.Recording;
using DeFeat.Losses;
using static TorchSharp.torch;

namespace DeFeat.Hooks.RoiHeads;

/// <summary>
/// Delivers the proposals one RoI head was given to another: a forward pre-hook on the source head reads its sampled
/// RoIs and labels, and a forward pre-hook on the target head replaces its RoIs and labels with them (returning the
/// modified input), so both heads classify the same proposals and the labels come from the source's sampling.
/// </summary>
/// <remarks>
/// For DeFeat's teacher-sampled proposals the source is the teacher's RoI head and the target the student's (the
/// teacher must run first); for student-sampled proposals it is the other way round. The labels are those of the
/// sampler that picked the proposals (the official code takes the student's labels for teacher-sampled RoIs, its bug
/// #20). The relay owns what it relays: an alias of the source head's RoIs and labels (same storage) that no dispose
/// scope frees, so a source model whose forward opens its own dispose scope does not invalidate them before the target
/// runs; they are freed on <see cref="Clear"/>, on the next source forward and on <see cref="Dispose"/>. The target head
/// receives aliases of its own that belong to the dispose scope its forward runs in, like any tensor it creates.
/// Disposing also detaches both ends (removes the hooks, or restores the slots).
/// </remarks>
public sealed class ProposalRelay : IDisposable
{
    private readonly Source source;
    private readonly TapSite sourceSite;
    private readonly TapSite targetSite;
    private readonly string? sourceHookFix;
    private IDisposable? sourceAttachment;
    private IDisposable? targetAttachment;

    /// <summary>Attaches the relay.</summary>
    /// <param name="source">The head whose proposals are delivered (the one whose sampler counts).</param>
    /// <param name="target">The head that receives them.</param>
    /// <exception cref="ArgumentNullException">An endpoint or one of its members is null.</exception>
    /// <exception cref="ArgumentException">
    /// A head path names no submodule (nearest valid paths listed), or cannot be intercepted the requested way
    /// (<see cref="TapMode.Wrapper"/> or <see cref="TapMode.StandIn"/> where that substitute does not fit).
    /// </exception>
    /// <exception cref="ArgumentOutOfRangeException">An endpoint's <see cref="RoiHeadEndpoint.Mode"/> is not a <see cref="TapMode"/> value.</exception>
    /// <remarks>
    /// When the source's <see cref="IRoiHeadArgumentMap.Read"/> returns null, a null or a disposed tensor, or the
    /// target's <see cref="IRoiHeadArgumentMap.Replace"/> returns null, too few arguments, null for an argument the head
    /// was given or a disposed tensor, that head's forward throws an <see cref="InvalidOperationException"/> naming the
    /// map, the head and the argument.
    /// </remarks>
    public ProposalRelay(RoiHeadEndpoint source, RoiHeadEndpoint target)
        : this(
            source,
            target,
            new TapSite($"{nameof(source)}.{nameof(RoiHeadEndpoint.HeadPath)}", Model: null),
            new TapSite($"{nameof(target)}.{nameof(RoiHeadEndpoint.HeadPath)}", Model: null))
    {
    }

    internal ProposalRelay(RoiHeadEndpoint source, RoiHeadEndpoint target, TapSite sourceSite, TapSite targetSite)
    {
        Guard.NotNull(source, nameof(source));
        Guard.NotNull(target, nameof(target));
        Guard.NotNull(source.Model, $"{nameof(source)}.{nameof(RoiHeadEndpoint.Model)}");
        Guard.NotNull(target.Model, $"{nameof(target)}.{nameof(RoiHeadEndpoint.Model)}");
        Guard.NotNull(source.Arguments, $"{nameof(source)}.{nameof(RoiHeadEndpoint.Arguments)}");
        Guard.NotNull(target.Arguments, $"{nameof(target)}.{nameof(RoiHeadEndpoint.Arguments)}");
        ValidateMode(source.Mode, $"{nameof(source)}.{nameof(RoiHeadEndpoint.Mode)}");
        ValidateMode(target.Mode, $"{nameof(target)}.{nameof(RoiHeadEndpoint.Mode)}");
        var sourceHead = ModulePath.Resolve(source.Model, source.HeadPath, sourceSite);
        var targetHead = ModulePath.Resolve(target.Model, target.HeadPath, targetSite);
        SourceEndpoint = source;
        TargetEndpoint = target;
        this.source = new Source(source.Arguments, sourceSite.Describe(source.HeadPath));
        this.sourceSite = sourceSite;
        this.targetSite = targetSite;
        (sourceAttachment, _, sourceHookFix) = ModuleInterception.Attach(sourceHead, source.Mode, this.source, input: true, output: false, sourceSite);
        try
        {
            targetAttachment = ModuleInterception.Attach(targetHead, target.Mode, new Target(this), input: true, output: false, targetSite).Handle;
        }
        catch
        {
            sourceAttachment.Dispose();
            throw;
        }
    }

    /// <summary>The head the proposals come from.</summary>
    public RoiHeadEndpoint SourceEndpoint { get; }

    /// <summary>The head the proposals are delivered to.</summary>
    public RoiHeadEndpoint TargetEndpoint { get; }

    /// <summary>Whether the source head has run since the last <see cref="Clear"/>.</summary>
    public bool HasProposals => source.Proposals is not null;

    /// <summary>
    /// Whether the target head has received the current proposals. Stays false while the target model has not run
    /// since the source did, and also when the target endpoint is a hook (<see cref="TapMode.Hook"/>, asked for or all
    /// its parent allows) on a head its parent invokes with <c>forward(...)</c>, which TorchSharp runs without hooks:
    /// that head then classifies its own proposals. Check it after the target model ran.
    /// </summary>
    public bool Delivered { get; private set; }

    /// <summary>The proposals the source head was given in its latest forward (since the last <see cref="Clear"/>).</summary>
    /// <exception cref="InvalidOperationException">The source head has not run (see <see cref="Recording.FeatureTap.Features"/> for the call()/forward() pitfall).</exception>
    /// <exception cref="ObjectDisposedException">The relay is disposed.</exception>
    /// <remarks>The relay's own aliases of the source head's tensors, valid until <see cref="Clear"/>; do not dispose them.</remarks>
    public SampledProposals Proposals
    {
        get
        {
            ObjectDisposedException.ThrowIf(sourceAttachment is null, this);
            return source.Proposals ?? throw new InvalidOperationException(NotRunMessage("read"));
        }
    }

    /// <summary>Forgets the relayed proposals and frees the relay's aliases of them (the models' tensors are untouched).</summary>
    public void Clear()
    {
        source.Release();
        Delivered = false;
    }

    /// <summary>Removes both hooks (or restores both fields) and forgets the proposals.</summary>
    public void Dispose()
    {
        targetAttachment?.Dispose();
        sourceAttachment?.Dispose();
        targetAttachment = null;
        sourceAttachment = null;
        Clear();
    }

    private static void ValidateMode(TapMode mode, string name)
    {
        if (!Enum.IsDefined(mode))
        {
            throw new ArgumentOutOfRangeException(name, mode, $"{name} must be Auto, Hook, Wrapper or StandIn; got {mode}.");
        }
    }

    private string NotRunMessage(string action)
        => $"Cannot {action} proposals: the source RoI head at {sourceSite.Describe(SourceEndpoint.HeadPath)} has not run since the relay was "
           + "attached or cleared. Run the source model before the target (teacher-sampled proposals: the teacher first)."
           + (sourceHookFix is null
               ? string.Empty
               : " If it did run, its parent invokes the head with .forward(...), which TorchSharp runs without hooks. " + sourceHookFix);

    /// <summary>While true the relay neither reads nor substitutes proposals: both heads run as written (see <c>Distiller.Suspend()</c>).</summary>
    internal bool Suspended
    {
        get => source.Suspended;
        set => source.Suspended = value;
    }

    private sealed class Source(IRoiHeadArgumentMap map, string head) : IModuleInterceptor
    {
        private readonly OwnedTensors owned = new();

        public bool Suspended { get; set; }

        public SampledProposals? Proposals { get; private set; }

        public object?[]? OnInput(object?[] arguments)
        {
            if (Suspended)
            {
                return null;
            }

            var read = map.Read(arguments) ?? throw new InvalidOperationException(
                $"{TypeNames.Of(map.GetType())}.{nameof(IRoiHeadArgumentMap.Read)} returned null for the RoI head at {head}; it must return the "
                + "head's RoIs and labels.");
            ThrowIfNotAlive(read.Rois, nameof(SampledProposals.Rois));
            ThrowIfNotAlive(read.Labels, nameof(SampledProposals.Labels));
            var taken = owned.Take([read.Rois, read.Labels]);
            Proposals = new SampledProposals(taken[0], taken[1]);
            return null;
        }

        public void Release()
        {
            owned.Release();
            Proposals = null;
        }

        private void ThrowIfNotAlive(Tensor? tensor, string member)
        {
            if (tensor is null || tensor.IsInvalid)
            {
                throw new InvalidOperationException(
                    $"{TypeNames.Of(map.GetType())}.{nameof(IRoiHeadArgumentMap.Read)} returned proposals whose {member} is "
                    + $"{(tensor is null ? "null" : "a disposed tensor (its handle is empty)")} for the RoI head at {head}; it must return the "
                    + "live tensors the head was given.");
            }
        }

        public void OnOutput(object? result)
        {
        }
    }

    private sealed class Target(ProposalRelay relay) : IModuleInterceptor
    {
        public object?[]? OnInput(object?[] arguments)
        {
            if (relay.Suspended)
            {
                return null;
            }

            var proposals = relay.source.Proposals ?? throw new InvalidOperationException(relay.NotRunMessage("deliver"));

            // Fresh aliases in the current dispose scope: the target owns them like any tensor of its forward, so a
            // head that keeps or returns its inputs is not left with the relay's aliases, which Clear frees.
            var map = relay.TargetEndpoint.Arguments;
            var replaced = map.Replace(arguments, new SampledProposals(proposals.Rois.alias(), proposals.Labels.alias()));
            if (replaced is null || replaced.Length != arguments.Length)
            {
                throw new InvalidOperationException(
                    $"{map.GetType().Name}.Replace returned {(replaced is null ? "null" : $"{replaced.Length} argument(s)")} for the RoI head "
                    + $"'{relay.TargetEndpoint.HeadPath}', which takes {arguments.Length}: it must return all of the head's forward arguments "
                    + "with the RoIs and labels replaced.");
            }

            for (var index = 0; index < replaced.Length; index++)
            {
                if ((replaced[index] is null && arguments[index] is not null) || replaced[index] is Tensor { IsInvalid: true })
                {
                    throw new InvalidOperationException(
                        $"{map.GetType().Name}.Replace returned {(replaced[index] is null ? "null" : "a disposed tensor")} as argument {index} for the "
                        + $"RoI head at {relay.targetSite.Describe(relay.TargetEndpoint.HeadPath)}, which was given "
                        + $"{(arguments[index] is { } given ? TypeNames.Of(given.GetType()) : "null")} there: it must return the head's arguments, with the RoIs and labels replaced.");
                }
            }

            relay.Delivered = true;
            return replaced;
        }

        public void OnOutput(object? result)
        {
        }
    }
}
