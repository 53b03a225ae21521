using DeFeat.Losses.Dense;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Toys.MlNetStyle;

/// <summary>
/// A one-stage detector whose head is <see cref="AutoFormerStyleRetinaHead"/> (probabilities flattened per level, or
/// concatenated over the levels), on the ML.NET-style backbone and FPN: [B, 3, H, W] → levels P3..P5 at strides 4, 8,
/// 16 with FPN width 2·<c>width</c> (16 or 32 channels for the tests' widths 8 and 16), <see cref="Anchors"/> anchors
/// and <see cref="Classes"/> classes, so the classification conv has A·K = 16 outputs.
/// </summary>
public class AutoFormerStyleRetinaNet : nn.Module<Tensor, (List<Tensor> ClassScores, List<Tensor> BoxDeltas)>
{
    public const int Classes = 4;
    public const int Anchors = 4;

#pragma warning disable IDE1006 // field names are the module paths
    private readonly MlNetStyleBackbone backbone;
    private readonly MlNetStyleFpn neck;
    private readonly AutoFormerStyleRetinaHead bbox_head;
#pragma warning restore IDE1006

    public AutoFormerStyleRetinaNet(long width, bool concatenate = false, DenseKdActivation activation = DenseKdActivation.Sigmoid)
        : base(nameof(AutoFormerStyleRetinaNet))
    {
        backbone = new MlNetStyleBackbone(width);
        neck = new MlNetStyleFpn([width, 2 * width, 4 * width], 2 * width);
        bbox_head = new AutoFormerStyleRetinaHead(2 * width, Classes, Anchors, concatenate, activation);
        RegisterComponents();
    }

    public AutoFormerStyleRetinaHead Head => bbox_head;

    public override (List<Tensor> ClassScores, List<Tensor> BoxDeltas) forward(Tensor images)
    {
        using var scope = torch.NewDisposeScope();
        var (classScores, boxDeltas) = bbox_head.forward(neck.forward(backbone.forward(images)));
        return ([.. classScores.Select(score => score.MoveToOuterDisposeScope())], [.. boxDeltas.Select(delta => delta.MoveToOuterDisposeScope())]);
    }

    /// <summary>The class logits [B, A·K, H_l, W_l] per level that <see cref="forward"/> turns into its scores (the tests' oracle input).</summary>
    public List<Tensor> ClassLogits(Tensor images) => bbox_head.ClassLogits(neck.forward(backbone.forward(images)));
}
