using DeFeat.Hooks.Interception;
using static TorchSharp.torch;

namespace DeFeat.Hooks.RoiHeads;

/// <summary>One end of a <see cref="ProposalRelay"/>: an RoI head inside a detector and how to reach its arguments.</summary>
/// <param name="model">The detector (teacher or student).</param>
/// <param name="headPath">Dotted path of its RoI head, as <c>named_modules()</c> names it (e.g. <c>"roi_head"</c>).</param>
/// <param name="arguments">Where the RoIs and labels live in the head's forward arguments.</param>
/// <param name="mode">How the head is intercepted; <see cref="TapMode.Auto"/> (default) picks what the model allows.</param>
public sealed class RoiHeadEndpoint(nn.Module model, string headPath, IRoiHeadArgumentMap arguments, TapMode mode = TapMode.Auto)
{
    /// <summary>The detector (teacher or student).</summary>
    public nn.Module Model { get; } = model;

    /// <summary>Dotted path of its RoI head.</summary>
    public string HeadPath { get; } = headPath;

    /// <summary>Where the RoIs and labels live in the head's forward arguments.</summary>
    public IRoiHeadArgumentMap Arguments { get; } = arguments;

    /// <summary>How the head is intercepted.</summary>
    public TapMode Mode { get; } = mode;
}
