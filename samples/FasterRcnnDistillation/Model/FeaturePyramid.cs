using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Model;

/// <summary>
/// FPN neck: 1×1 laterals, nearest top-down fusion, 3×3 output convs, and P6 as a stride-2 max-pool of P5.
/// C2..C5 → P2..P6 [B, channels, H/4..H/64, ...]. Each level is the output of its own module
/// (<c>outputs.0</c>..<c>outputs.3</c>, <c>extra</c>), so it can be tapped by module path.
/// </summary>
public sealed class FeaturePyramid : nn.Module<Tensor[], Tensor[]>
{
    private readonly ModuleList<Conv2d> laterals;
    private readonly ModuleList<Conv2d> outputs;
    private readonly MaxPool2d extra;

    public FeaturePyramid(string name, IReadOnlyList<long> inChannels, long channels)
        : base(name)
    {
        laterals = new ModuleList<Conv2d>(inChannels.Select(c => nn.Conv2d(c, channels, 1)).ToArray());
        outputs = new ModuleList<Conv2d>(inChannels.Select(_ => nn.Conv2d(channels, channels, 3, padding: 1)).ToArray());
        extra = nn.MaxPool2d(1, stride: 2);
        RegisterComponents();
    }

    public override Tensor[] forward(Tensor[] inputs)
    {
        var merged = new Tensor[inputs.Length];
        merged[^1] = laterals[inputs.Length - 1].call(inputs[^1]);
        for (int l = inputs.Length - 2; l >= 0; l--)
        {
            var lateral = laterals[l].call(inputs[l]);
            merged[l] = lateral + nn.functional.interpolate(
                merged[l + 1], new[] { lateral.shape[2], lateral.shape[3] }, mode: InterpolationMode.Nearest);
        }

        var result = new Tensor[inputs.Length + 1];
        for (int l = 0; l < inputs.Length; l++)
        {
            result[l] = outputs[l].call(merged[l]);
        }

        result[^1] = extra.call(result[^2]);
        return result;
    }
}
