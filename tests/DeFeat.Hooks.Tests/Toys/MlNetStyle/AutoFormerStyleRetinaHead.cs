using DeFeat.Losses.Dense;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Toys.MlNetStyle;

/// <summary>
/// A RetinaNet head written the way ML.NET's AutoFormerV2 <c>RetinaHead</c> is: shared towers in
/// ModuleList&lt;Module&lt;Tensor, Tensor&gt;&gt;, a sealed <c>Conv2d retina_cls</c> invoked with .forward(...) once per
/// level, the sigmoid applied inside the head (a <c>Sigmoid output_act</c> field), and each level's map permuted to
/// [B, H, W, A·K] and viewed as [B, H·W·A, K]; its own dispose scope. Returns (class probabilities, box deltas) per
/// level, or, with <c>concatenate</c>, one [B, Σ H_l·W_l·A, K] / [B, Σ H_l·W_l·A, 4] tensor each (torchvision's
/// layout). With <see cref="DenseKdActivation.Softmax"/> it applies a softmax over the K columns of each anchor instead.
/// </summary>
public class AutoFormerStyleRetinaHead : nn.Module<List<Tensor>, (List<Tensor> ClassScores, List<Tensor> BoxDeltas)>
{
#pragma warning disable IDE1006 // field names are the module paths
    private readonly ModuleList<nn.Module<Tensor, Tensor>> cls_convs;
    private readonly ModuleList<nn.Module<Tensor, Tensor>> reg_convs;
    private readonly Conv2d retina_cls;
    private readonly Conv2d retina_reg;
    private readonly Sigmoid output_act;
#pragma warning restore IDE1006
    private readonly int numClasses;
    private readonly bool concatenate;
    private readonly DenseKdActivation activation;

    public AutoFormerStyleRetinaHead(long channels, int numClasses, int anchors, bool concatenate, DenseKdActivation activation)
        : base(nameof(AutoFormerStyleRetinaHead))
    {
        this.numClasses = numClasses;
        this.concatenate = concatenate;
        this.activation = activation;
        cls_convs = new ModuleList<nn.Module<Tensor, Tensor>>(new ConvModule(channels, channels, 3), new ConvModule(channels, channels, 3));
        reg_convs = new ModuleList<nn.Module<Tensor, Tensor>>(new ConvModule(channels, channels, 3), new ConvModule(channels, channels, 3));
        retina_cls = nn.Conv2d(channels, anchors * numClasses, 3, padding: 1);
        retina_reg = nn.Conv2d(channels, anchors * 4, 3, padding: 1);
        output_act = nn.Sigmoid();
        RegisterComponents();
    }

    /// <summary>The classification conv (its bias is set by the tests that need saturated probabilities).</summary>
    public Conv2d ClassConv => retina_cls;

    public override (List<Tensor> ClassScores, List<Tensor> BoxDeltas) forward(List<Tensor> inputs)
    {
        using var scope = torch.NewDisposeScope();
        var clsOutputs = new List<Tensor>();
        var regOutputs = new List<Tensor>();
        for (var i = 0; i < inputs.Count; i++)
        {
            var clsOutput = retina_cls.forward(Tower(cls_convs, inputs[i]));
            if (activation == DenseKdActivation.Sigmoid)
            {
                clsOutput = output_act.forward(clsOutput);
            }

            // out is B x C x H x W, with C = num_classes * num_anchors
            clsOutput = clsOutput.permute(0, 2, 3, 1);
            clsOutput = clsOutput.contiguous().view(clsOutput.shape[0], -1, numClasses);
            if (activation == DenseKdActivation.Softmax)
            {
                clsOutput = nn.functional.softmax(clsOutput, -1);
            }

            clsOutputs.Add(clsOutput);

            var regOutput = retina_reg.forward(Tower(reg_convs, inputs[i])).permute(0, 2, 3, 1);
            regOutputs.Add(regOutput.contiguous().view(regOutput.shape[0], -1, 4));
        }

        return concatenate
            ? ([torch.cat(clsOutputs, 1).MoveToOuterDisposeScope()], [torch.cat(regOutputs, 1).MoveToOuterDisposeScope()])
            : ([.. clsOutputs.Select(output => output.MoveToOuterDisposeScope())], [.. regOutputs.Select(output => output.MoveToOuterDisposeScope())]);
    }

    /// <summary>The class logits [B, A·K, H_l, W_l] of each level, before the activation and the flattening (the tests' oracle input).</summary>
    public List<Tensor> ClassLogits(List<Tensor> inputs) => [.. inputs.Select(input => retina_cls.forward(Tower(cls_convs, input)))];

    private static Tensor Tower(ModuleList<nn.Module<Tensor, Tensor>> convs, Tensor x)
    {
        for (var j = 0; j < convs.Count; j++)
        {
            x = convs[j].forward(x);
        }

        return x;
    }
}
