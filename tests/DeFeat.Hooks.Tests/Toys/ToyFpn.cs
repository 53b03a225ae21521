using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Toys;

/// <summary>FPN-like neck: 1×1 laterals to <c>outChannels</c> and a top-down nearest-upsampling sum; returns [P1, P2].</summary>
public sealed class ToyFpn : nn.Module<Tensor[], Tensor[]>
{
    private readonly Conv2d lateral1;
    private readonly Conv2d lateral2;

    public ToyFpn(long inChannels, long outChannels)
        : base(nameof(ToyFpn))
    {
        lateral1 = nn.Conv2d(inChannels, outChannels, 1);
        lateral2 = nn.Conv2d(2 * inChannels, outChannels, 1);
        RegisterComponents();
    }

    public Tensor[] LastOutput { get; private set; } = [];

    public override Tensor[] forward(Tensor[] features)
    {
        var p2 = lateral2.call(features[1]);
        var p1 = lateral1.call(features[0]) + nn.functional.interpolate(p2, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest);
        LastOutput = [p1, p2];
        return LastOutput;
    }
}

/// <summary>The same neck returning a value tuple (P1, P2), for the one-stage toy.</summary>
public sealed class ToyTupleFpn : nn.Module<Tensor[], (Tensor P1, Tensor P2)>
{
    private readonly ToyFpn fpn;

    public ToyTupleFpn(long inChannels, long outChannels)
        : base(nameof(ToyTupleFpn))
    {
        fpn = new ToyFpn(inChannels, outChannels);
        RegisterComponents();
    }

    public (Tensor P1, Tensor P2) LastOutput { get; private set; }

    public override (Tensor P1, Tensor P2) forward(Tensor[] features)
    {
        var levels = fpn.forward(features);
        LastOutput = (levels[0], levels[1]);
        return LastOutput;
    }
}
