using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Toys;

/// <summary>Two stride-2 conv stages with BatchNorm: [B, 3, H, W] → C1 [B, c, H/2, W/2], C2 [B, 2c, H/4, W/4].</summary>
public sealed class ToyBackbone : nn.Module<Tensor, Tensor[]>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Conv2d conv2;

    public ToyBackbone(long channels)
        : base(nameof(ToyBackbone))
    {
        conv1 = nn.Conv2d(3, channels, 3, stride: 2, padding: 1);
        bn1 = nn.BatchNorm2d(channels);
        conv2 = nn.Conv2d(channels, 2 * channels, 3, stride: 2, padding: 1);
        RegisterComponents();
    }

    public BatchNorm2d Norm => bn1;

    public override Tensor[] forward(Tensor images)
    {
        var c1 = nn.functional.relu(bn1.call(conv1.call(images)));
        var c2 = nn.functional.relu(conv2.call(c1));
        return [c1, c2];
    }
}
