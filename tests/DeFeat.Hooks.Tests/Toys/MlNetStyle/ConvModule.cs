using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Toys.MlNetStyle;

/// <summary>Conv → optional BatchNorm → optional ReLU, written as ML.NET's TorchSharp models write it: concrete field types and .forward(...) calls.</summary>
public class ConvModule : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are the module paths
    private readonly Conv2d conv;
    private readonly BatchNorm2d? bn;
#pragma warning restore IDE1006
    private readonly bool useRelu;

    public ConvModule(long inChannels, long outChannels, long kernelSize, long stride = 1, bool useBatchNorm = false, bool useRelu = true)
        : base(nameof(ConvModule))
    {
        conv = nn.Conv2d(inChannels, outChannels, kernelSize, stride: stride, padding: kernelSize / 2);
        bn = useBatchNorm ? nn.BatchNorm2d(outChannels) : null;
        this.useRelu = useRelu;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        x = conv.forward(x);
        if (bn is not null)
        {
            x = bn.forward(x);
        }

        return useRelu ? nn.functional.relu(x) : x;
    }
}
