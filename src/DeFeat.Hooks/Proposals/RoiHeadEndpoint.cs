using DeFeat.Hooks.Recording;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Proposals;

/// <summary>One end of a <see cref="ProposalRelay"/>: an RoI head inside a detector and how to reach its arguments.</summary>
/// <param name="Model">The detector (teacher or student).</param>
/// <param name="HeadPath">Dotted path of its RoI head, as <c>named_modules()</c> names it (e.g. <c>"roi_head"</c>).</param>
/// <param name="Adapter">Where the RoIs and labels live in the head's forward arguments.</param>
/// <param name="Mode">Hook (default) or Wrapper, for a parent that calls the head with <c>forward(...)</c>.</param>
public sealed record RoiHeadEndpoint(nn.Module Model, string HeadPath, IRoiHeadInputAdapter Adapter, TapMode Mode = TapMode.Hook);
