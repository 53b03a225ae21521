using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Model;

/// <summary>A ResNet basic block: two 3×3 conv + BN, identity or 1×1 projection shortcut, ReLU.</summary>
public sealed class BasicBlock : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly nn.Module<Tensor, Tensor>? shortcut;

    public BasicBlock(string name, long inChannels, long outChannels, long stride)
        : base(name)
    {
        conv1 = nn.Conv2d(inChannels, outChannels, 3, stride: stride, padding: 1, bias: false);
        bn1 = nn.BatchNorm2d(outChannels);
        conv2 = nn.Conv2d(outChannels, outChannels, 3, padding: 1, bias: false);
        bn2 = nn.BatchNorm2d(outChannels);
        if (stride != 1 || inChannels != outChannels)
        {
            shortcut = nn.Sequential(
                ("conv", nn.Conv2d(inChannels, outChannels, 1, stride: stride, bias: false)),
                ("bn", nn.BatchNorm2d(outChannels)));
        }

        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = nn.functional.relu(bn1.call(conv1.call(input)));
        x = bn2.call(conv2.call(x));
        var identity = shortcut is null ? input : shortcut.call(input);
        return nn.functional.relu(x + identity).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// ResNet-style backbone: 3×3 stride-2 stem + 3×3 stride-2 max-pool, then four stages of basic blocks with widths
/// w, 2w, 4w, 8w. Input [B, 3, H, W] → C2..C5 at strides 4, 8, 16, 32.
/// </summary>
public sealed class ResNetBackbone : nn.Module<Tensor, Tensor[]>
{
    private readonly Sequential stem;
    private readonly ModuleList<nn.Module<Tensor, Tensor>> stages;

    public ResNetBackbone(string name, int[] blockCounts, int baseWidth)
        : base(name)
    {
        stem = nn.Sequential(
            ("conv", nn.Conv2d(3, baseWidth, 3, stride: 2, padding: 1, bias: false)),
            ("bn", nn.BatchNorm2d(baseWidth)),
            ("relu", nn.ReLU()),
            ("pool", nn.MaxPool2d(3, stride: 2, padding: 1)));
        stages = new ModuleList<nn.Module<Tensor, Tensor>>();
        long inChannels = baseWidth;
        for (int s = 0; s < blockCounts.Length; s++)
        {
            long outChannels = baseWidth << s;
            var blocks = new List<(string, nn.Module<Tensor, Tensor>)>();
            for (int b = 0; b < blockCounts[s]; b++)
            {
                blocks.Add(($"{b}", new BasicBlock($"block{b}", inChannels, outChannels, b == 0 && s > 0 ? 2 : 1)));
                inChannels = outChannels;
            }

            stages.Add(nn.Sequential(blocks));
        }

        OutChannels = Enumerable.Range(0, blockCounts.Length).Select(s => (long)baseWidth << s).ToArray();
        RegisterComponents();
    }

    /// <summary>Channels of C2..C5.</summary>
    public long[] OutChannels { get; }

    public override Tensor[] forward(Tensor images)
    {
        var x = stem.call(images);
        var outputs = new Tensor[stages.Count];
        for (int s = 0; s < stages.Count; s++)
        {
            x = stages[s].call(x);
            outputs[s] = x;
        }

        return outputs;
    }
}
