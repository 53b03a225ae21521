using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Toys.MlNetStyle;

/// <summary>A stem and three stride-2 stages (BatchNorm in each): [B, 3, H, W] → C3..C5 at strides 4, 8, 16.</summary>
public class MlNetStyleBackbone : nn.Module<Tensor, List<Tensor>>
{
#pragma warning disable IDE1006 // field names are the module paths
    private readonly ConvModule stem;
    private readonly ModuleList<ConvModule> stages;
#pragma warning restore IDE1006

    public MlNetStyleBackbone(long width)
        : base(nameof(MlNetStyleBackbone))
    {
        stem = new ConvModule(3, width, 3, stride: 2, useBatchNorm: true);
        stages = new ModuleList<ConvModule>(
            new ConvModule(width, width, 3, stride: 2, useBatchNorm: true),
            new ConvModule(width, 2 * width, 3, stride: 2, useBatchNorm: true),
            new ConvModule(2 * width, 4 * width, 3, stride: 2, useBatchNorm: true));
        RegisterComponents();
    }

    public override List<Tensor> forward(Tensor images)
    {
        var x = stem.forward(images);
        var outputs = new List<Tensor>();
        for (var i = 0; i < stages.Count; i++)
        {
            x = stages[i].forward(x);
            outputs.Add(x);
        }

        return outputs;
    }
}
