using static TorchSharp.torch;

namespace DeFeat.Hooks.RoiHeads;

/// <summary>The proposals one RoI head was given in a step, as its sampler produced them.</summary>
/// <param name="rois">
/// The sampled RoIs in whatever layout the detector's RoI head takes (commonly [R, 5]: batch index, x1, y1, x2, y2 in
/// input-image pixels); handed on unchanged.
/// </param>
/// <param name="labels">
/// The sampler's label of each RoI, [R] int64: an object class, the background index, or −1 (ignored), as
/// <see cref="Losses.Proposals.DecoupledProposalKdLoss"/> expects.
/// </param>
public sealed class SampledProposals(Tensor rois, Tensor labels)
{
    /// <summary>The sampled RoIs, in the layout the RoI head takes.</summary>
    public Tensor Rois { get; } = rois;

    /// <summary>The sampler's label of each RoI, [R] int64.</summary>
    public Tensor Labels { get; } = labels;
}
