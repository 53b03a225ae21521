using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Toys;

/// <summary>
/// A toy RetinaNet: backbone → FPN neck returning a value tuple (P1, P2) → a shared 3×3 classification conv per level.
/// forward(images) returns a stand-in detection loss.
/// </summary>
public sealed class OneStageToy : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are the module paths
    private readonly nn.Module<Tensor, Tensor[]> backbone;
    private readonly nn.Module<Tensor[], (Tensor P1, Tensor P2)> neck;
    private readonly Conv2d cls_head;
#pragma warning restore IDE1006

    public OneStageToy(long width, CallStyle style = CallStyle.Call)
        : base(nameof(OneStageToy))
    {
        Style = style;
        backbone = new ToyBackbone(width);
        neck = new ToyTupleFpn(width, 2 * width);
        cls_head = nn.Conv2d(2 * width, 3, 3, padding: 1);
        RegisterComponents();
    }

    public CallStyle Style { get; }

    public ToyBackbone Backbone => (ToyBackbone)backbone;

    /// <summary>The original neck (registered as "neck"), whatever the field holds now.</summary>
    public ToyTupleFpn Neck => (ToyTupleFpn)named_children().Single(child => child.name == "neck").module;

    public nn.Module<Tensor[], (Tensor P1, Tensor P2)> NeckField => neck;

    public override Tensor forward(Tensor images)
    {
        var features = backbone.call(images);
        var (p1, p2) = Style == CallStyle.Call ? neck.call(features) : neck.forward(features);
        return cls_head.call(p1).sigmoid().mean() + cls_head.call(p2).sigmoid().mean();
    }
}
