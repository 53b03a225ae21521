using DeFeat.Hooks.Interception;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.RoiHeads;

/// <summary>One end of a <see cref="ProposalRelay"/>: an RoI head inside a detector and how to reach its arguments.</summary>
/// <param name="Model">The detector (teacher or student).</param>
/// <param name="HeadPath">Dotted path of its RoI head, as <c>named_modules()</c> names it (e.g. <c>"roi_head"</c>).</param>
/// <param name="Arguments">Where the RoIs and labels live in the head's forward arguments.</param>
/// <param name="Mode">How the head is intercepted; <see cref="TapMode.Auto"/> (default) picks what the model allows.</param>
public sealed record RoiHeadEndpoint(nn.Module Model, string HeadPath, IRoiHeadArgumentMap Arguments, TapMode Mode = TapMode.Auto);
