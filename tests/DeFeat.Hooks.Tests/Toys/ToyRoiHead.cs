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
        var level = features[0];
        var (height, width, channels) = (level.shape[2], level.shape[3], level.shape[1]);
        var batchIndex = rois.select(1, 0).to(ScalarType.Int64);
        var x = ((rois.select(1, 1) + rois.select(1, 3)) / (2 * Stride)).floor().clamp(0, width - 1).to(ScalarType.Int64);
        var y = ((rois.select(1, 2) + rois.select(1, 4)) / (2 * Stride)).floor().clamp(0, height - 1).to(ScalarType.Int64);
        var pooled = level.permute(0, 2, 3, 1).reshape(-1, channels).index_select(0, (batchIndex * height * width) + (y * width) + x);
        var logits = classifier.call(pooled);
        (LastLogits, LastRois, LastLabels) = (logits, rois, labels);
        return (logits, nn.functional.cross_entropy(logits, labels));
    }
}
