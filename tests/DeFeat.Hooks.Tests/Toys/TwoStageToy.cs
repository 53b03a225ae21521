using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Toys;

/// <summary>
/// A toy Faster R-CNN: backbone → FPN neck (Tensor[]) → sampled RoIs → RoI head. forward(images) returns the
/// detection loss (RoI-head cross-entropy plus a small feature penalty).
/// </summary>
public sealed class TwoStageToy : nn.Module<Tensor, Tensor>
{
    public const long Classes = 3;

#pragma warning disable IDE1006 // field names are the module paths
    private readonly nn.Module<Tensor, Tensor[]> backbone;
    private readonly nn.Module<Tensor[], Tensor[]> neck;
    private readonly nn.Module<Tensor[], Tensor, Tensor, (Tensor Logits, Tensor Loss)> roi_head;
#pragma warning restore IDE1006

    public TwoStageToy(long width, long seed, CallStyle style = CallStyle.Call)
        : base(nameof(TwoStageToy))
    {
        Style = style;
        backbone = new ToyBackbone(width);
        neck = new ToyFpn(width, 2 * width);
        roi_head = new ToyRoiHead(2 * width, Classes);
        Sampler = new ToyProposalSampler(seed, perImage: 6, Classes);
        RegisterComponents();
    }

    public CallStyle Style { get; }

    /// <summary>The original backbone (registered as "backbone"), whatever the field holds now.</summary>
    public ToyBackbone Backbone => (ToyBackbone)named_children().Single(child => child.name == "backbone").module;

    /// <summary>The original neck (registered as "neck"), whatever the field holds now.</summary>
    public ToyFpn Neck => (ToyFpn)named_children().Single(child => child.name == "neck").module;

    public ToyRoiHead RoiHead => (ToyRoiHead)named_children().Single(child => child.name == "roi_head").module;

    public ToyProposalSampler Sampler { get; }

    public nn.Module<Tensor[], Tensor[]> NeckField => neck;

    public override Tensor forward(Tensor images)
    {
        var features = backbone.call(images);
        var levels = Style == CallStyle.Call ? neck.call(features) : neck.forward(features);
        var (rois, labels) = Sampler.Sample(images.shape[0], images.shape[2], images.shape[3]);
        var (_, headLoss) = Style == CallStyle.Call ? roi_head.call(levels, rois, labels) : roi_head.forward(levels, rois, labels);
        return headLoss + (0.01 * (levels[0].square().mean() + levels[1].square().mean()));
    }
}
