using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Toys.MlNetStyle;

/// <summary>
/// A box head for the two-stage variant: features (P3, stride 4), RoIs [R, 5] and labels [R] → (logits [R, K+1],
/// cross-entropy). Each RoI is pooled as the P3 cell under its centre; two FCs with ReLU.
/// </summary>
public class MlNetStyleRoiHead : nn.Module<List<Tensor>, Tensor, Tensor, (Tensor Logits, Tensor Loss)>
{
    public const double Stride = 4.0;

#pragma warning disable IDE1006 // field names are the module paths
    private readonly Linear shared_fc;
    private readonly Linear fc_cls;
#pragma warning restore IDE1006

    public MlNetStyleRoiHead(long channels, long classes)
        : base(nameof(MlNetStyleRoiHead))
    {
        shared_fc = nn.Linear(channels, 2 * channels);
        fc_cls = nn.Linear(2 * channels, classes + 1);
        RegisterComponents();
    }

    public override (Tensor Logits, Tensor Loss) forward(List<Tensor> features, Tensor rois, Tensor labels)
    {
        var pooled = CentreCellPooling.Pool(features[0], rois, Stride);
        var logits = fc_cls.forward(nn.functional.relu(shared_fc.forward(pooled)));
        return (logits, nn.functional.cross_entropy(logits, labels));
    }
}
