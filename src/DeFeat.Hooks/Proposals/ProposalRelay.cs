using DeFeat.Hooks.Interception;
using DeFeat.Losses;

namespace DeFeat.Hooks.Proposals;

/// <summary>
/// Delivers the proposals one RoI head was given to another: a forward pre-hook on the source head reads its sampled
/// RoIs and labels, and a forward pre-hook on the target head replaces its RoIs and labels with them (returning the
/// modified input), so both heads classify the same proposals and the labels come from the source's sampling.
/// </summary>
/// <remarks>
/// For DeFeat's teacher-sampled proposals the source is the teacher's RoI head and the target the student's (the
/// teacher must run first); for student-sampled proposals it is the other way round. The labels are those of the
/// sampler that picked the proposals (the official code takes the student's labels for teacher-sampled RoIs, its bug
/// #20). The relayed tensors are references to the source head's inputs, valid for the current step;
/// <see cref="Clear"/> forgets them. Disposing removes both hooks (or restores both fields).
/// </remarks>
public sealed class ProposalRelay : IDisposable
{
    private readonly Source source;
    private IDisposable? sourceAttachment;
    private IDisposable? targetAttachment;

    /// <summary>Attaches the relay.</summary>
    /// <param name="source">The head whose proposals are delivered (the one whose sampler counts).</param>
    /// <param name="target">The head that receives them.</param>
    /// <exception cref="ArgumentNullException">An endpoint or one of its members is null.</exception>
    /// <exception cref="ArgumentException">A head path names no submodule (nearest valid paths listed), or cannot be wrapped.</exception>
    public ProposalRelay(RoiHeadEndpoint source, RoiHeadEndpoint target)
    {
        Guard.NotNull(source, nameof(source));
        Guard.NotNull(target, nameof(target));
        Guard.NotNull(source.Adapter, $"{nameof(source)}.{nameof(RoiHeadEndpoint.Adapter)}");
        Guard.NotNull(target.Adapter, $"{nameof(target)}.{nameof(RoiHeadEndpoint.Adapter)}");
        var sourceHead = ModulePath.Resolve(source.Model, source.HeadPath, $"{nameof(source)}.{nameof(RoiHeadEndpoint.HeadPath)}");
        var targetHead = ModulePath.Resolve(target.Model, target.HeadPath, $"{nameof(target)}.{nameof(RoiHeadEndpoint.HeadPath)}");
        SourceEndpoint = source;
        TargetEndpoint = target;
        this.source = new Source(source.Adapter);
        sourceAttachment = ModuleInterception.Attach(sourceHead, source.Mode, this.source, input: true, output: false, nameof(source));
        try
        {
            targetAttachment = ModuleInterception.Attach(targetHead, target.Mode, new Target(this), input: true, output: false, nameof(target));
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

    /// <summary>Whether the target head has received the current proposals.</summary>
    public bool Delivered { get; private set; }

    /// <summary>The proposals the source head was given in its latest forward (since the last <see cref="Clear"/>).</summary>
    /// <exception cref="InvalidOperationException">The source head has not run (see <see cref="Recording.FeatureTap.Features"/> for the call()/forward() pitfall).</exception>
    public SampledProposals Proposals => source.Proposals ?? throw new InvalidOperationException(NotRunMessage("read"));

    /// <summary>Forgets the relayed proposals (not disposed: they belong to the source forward's dispose scope).</summary>
    public void Clear()
    {
        source.Proposals = null;
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

    private string NotRunMessage(string action)
        => $"Cannot {action} proposals: the source RoI head '{SourceEndpoint.HeadPath}' has not run since the relay was attached or "
           + $"cleared. Run the {"source model"} before the target "
           + $"(teacher-sampled proposals: the teacher first). If it did run, its parent invokes the head with .forward(...), "
           + "which TorchSharp runs without hooks: use TapMode.Wrapper for that endpoint or call the head with .call(...).";

    private sealed class Source(IRoiHeadInputAdapter adapter) : IModuleInterceptor
    {
        public SampledProposals? Proposals { get; set; }

        public object?[]? OnInput(object?[] arguments)
        {
            Proposals = adapter.Read(arguments);
            return null;
        }

        public void OnOutput(object? result)
        {
        }
    }

    private sealed class Target(ProposalRelay relay) : IModuleInterceptor
    {
        public object?[]? OnInput(object?[] arguments)
        {
            var proposals = relay.source.Proposals ?? throw new InvalidOperationException(relay.NotRunMessage("deliver"));
            relay.Delivered = true;
            return relay.TargetEndpoint.Adapter.Replace(arguments, proposals);
        }

        public void OnOutput(object? result)
        {
        }
    }
}
