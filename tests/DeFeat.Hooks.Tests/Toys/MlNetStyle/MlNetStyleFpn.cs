using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Toys.MlNetStyle;

/// <summary>
/// FPN as ML.NET's AutoFormerV2 writes it: 1×1 lateral convs and 3×3 output convs in ModuleLists, items invoked with
/// .forward(...), top-down nearest upsampling; returns P3..P5 with <c>outChannels</c> each.
/// </summary>
public class MlNetStyleFpn : nn.Module<List<Tensor>, List<Tensor>>
{
#pragma warning disable IDE1006 // field names are the module paths
    private readonly ModuleList<Conv2d> lateral_convs;
    private readonly ModuleList<ConvModule> fpn_convs;
#pragma warning restore IDE1006

    public MlNetStyleFpn(long[] inChannels, long outChannels)
        : base(nameof(MlNetStyleFpn))
    {
        lateral_convs = new ModuleList<Conv2d>([.. inChannels.Select(channels => nn.Conv2d(channels, outChannels, 1))]);
        fpn_convs = new ModuleList<ConvModule>([.. inChannels.Select(_ => new ConvModule(outChannels, outChannels, 3, useRelu: false))]);
        RegisterComponents();
    }

    public override List<Tensor> forward(List<Tensor> inputs)
    {
        var laterals = new List<Tensor>();
        for (var i = 0; i < inputs.Count; i++)
        {
            laterals.Add(lateral_convs[i].forward(inputs[i]));
        }

        for (var i = laterals.Count - 1; i > 0; i--)
        {
            laterals[i - 1] = laterals[i - 1] + nn.functional.interpolate(laterals[i], scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest);
        }

        var outputs = new List<Tensor>();
        for (var i = 0; i < laterals.Count; i++)
        {
            outputs.Add(fpn_convs[i].forward(laterals[i]));
        }

        return outputs;
    }
}
