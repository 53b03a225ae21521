using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Toys.MlNetStyle;

/// <summary>
/// A one-stage detector written the way ML.NET's AutoFormerV2 is: concrete field types everywhere, every submodule
/// invoked with .forward(...), and a forward that opens its own dispose scope and moves only its outputs out.
/// [B, 3, H, W] → (class logits, box deltas) per level P3..P5 (strides 4, 8, 16), FPN width 2·<c>width</c>.
/// </summary>
public class MlNetStyleRetinaNet : nn.Module<Tensor, (List<Tensor> ClassScores, List<Tensor> BoxDeltas)>
{
    public const long Classes = 3;

#pragma warning disable IDE1006 // field names are the module paths
    private readonly MlNetStyleBackbone backbone;
    private readonly MlNetStyleFpn neck;
    private readonly MlNetStyleRetinaHead bbox_head;
#pragma warning restore IDE1006

    public MlNetStyleRetinaNet(long width)
        : base(nameof(MlNetStyleRetinaNet))
    {
        backbone = new MlNetStyleBackbone(width);
        neck = new MlNetStyleFpn([width, 2 * width, 4 * width], 2 * width);
        bbox_head = new MlNetStyleRetinaHead(2 * width, Classes, levels: 3);
        RegisterComponents();
    }

    public override (List<Tensor> ClassScores, List<Tensor> BoxDeltas) forward(Tensor images)
    {
        using var scope = torch.NewDisposeScope();
        var features = backbone.forward(images);
        var levels = neck.forward(features);
        var (classScores, boxDeltas) = bbox_head.forward(levels);
        return ([.. classScores.Select(score => score.MoveToOuterDisposeScope())], [.. boxDeltas.Select(delta => delta.MoveToOuterDisposeScope())]);
    }

    /// <summary>A stand-in detection loss on the outputs (sigmoid BCE against no objects, L1 on the deltas).</summary>
    public static Tensor Loss((List<Tensor> ClassScores, List<Tensor> BoxDeltas) outputs)
    {
        var classification = outputs.ClassScores
            .Select(score => nn.functional.binary_cross_entropy_with_logits(score, torch.zeros_like(score)))
            .Aggregate((sum, term) => sum + term);
        var regression = outputs.BoxDeltas.Select(delta => delta.abs().mean()).Aggregate((sum, term) => sum + term);
        return classification + (0.1 * regression);
    }
}
