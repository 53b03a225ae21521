using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Toys;

/// <summary>
/// RoI head: features (finest level, stride 2), RoIs [R, 5] (batch index, x1, y1, x2, y2) and labels [R] →
/// (classification logits [R, K+1], cross-entropy loss). Each RoI is pooled as the cell under its centre.
/// </summary>
public sealed class ToyRoiHead : nn.Module<Tensor[], Tensor, Tensor, (Tensor Logits, Tensor Loss)>
{
    public const double Stride = 2.0;

    private readonly Linear classifier;

    public ToyRoiHead(long channels, long classes)
        : base(nameof(ToyRoiHead))
    {
        classifier = nn.Linear(channels, classes + 1);
        RegisterComponents();
    }

    public Tensor? LastLogits { get; private set; }

    public Tensor? LastRois { get; private set; }

    public Tensor? LastLabels { get; private set; }

    public override (Tensor Logits, Tensor Loss) forward(Tensor[] features, Tensor rois, Tensor labels)
    {
        var pooled = CentreCellPooling.Pool(features[0], rois, Stride);
        var logits = classifier.call(pooled);
        (LastLogits, LastRois, LastLabels) = (logits, rois, labels);
        return (logits, nn.functional.cross_entropy(logits, labels));
    }
}
