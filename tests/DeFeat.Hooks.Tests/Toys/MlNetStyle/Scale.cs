using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Toys.MlNetStyle;

/// <summary>A learnable scalar factor (RetinaNet/FCOS heads' per-level scale), held in a Parameter field of its own.</summary>
public class Scale : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are the parameter names
    private Parameter scale;
#pragma warning restore IDE1006

    public Scale(double initial)
        : base(nameof(Scale))
    {
        scale = nn.Parameter(torch.tensor(initial, ScalarType.Float32));
        RegisterComponents();
    }

    /// <summary>The current value of the Parameter field (for checks after to(...)).</summary>
    public Parameter Factor => scale;

    public override Tensor forward(Tensor x) => x * scale;
}
