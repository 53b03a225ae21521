using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Toys.MlNetStyle;

/// <summary>
/// The two-stage variant in the same style: backbone → FPN → seeded proposal sampler → box head invoked with
/// .forward(features, rois, labels), all inside the model's own dispose scope; forward(images) returns the detection
/// loss (moved out of that scope).
/// </summary>
public class MlNetStyleFasterRcnn : nn.Module<Tensor, Tensor>
{
    public const long Classes = 3;

#pragma warning disable IDE1006 // field names are the module paths
    private readonly MlNetStyleBackbone backbone;
    private readonly MlNetStyleFpn neck;
    private readonly MlNetStyleRoiHead roi_head;
#pragma warning restore IDE1006
    private readonly ToyProposalSampler sampler;

    public MlNetStyleFasterRcnn(long width, long seed)
        : base(nameof(MlNetStyleFasterRcnn))
    {
        backbone = new MlNetStyleBackbone(width);
        neck = new MlNetStyleFpn([width, 2 * width, 4 * width], 2 * width);
        roi_head = new MlNetStyleRoiHead(2 * width, Classes);
        sampler = new ToyProposalSampler(seed, perImage: 6, Classes);
        RegisterComponents();
    }

    public override Tensor forward(Tensor images)
    {
        using var scope = torch.NewDisposeScope();
        var levels = neck.forward(backbone.forward(images));
        var (rois, labels) = sampler.Sample(images.shape[0], images.shape[2], images.shape[3]);
        var (_, headLoss) = roi_head.forward(levels, rois, labels);
        var featurePenalty = levels.Select(level => level.square().mean()).Aggregate((sum, term) => sum + term);
        return (headLoss + (0.01 * featurePenalty)).MoveToOuterDisposeScope();
    }
}
