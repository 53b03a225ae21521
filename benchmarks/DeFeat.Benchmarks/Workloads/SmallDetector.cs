using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DeFeat.Benchmarks.Workloads;

/// <summary>
/// A small detector's backbone and neck for the frozen-teacher benchmark: three stride-2 3×3 stages (3 → 32 → 64 → 128
/// channels) and a neck of three 1×1 lateral convolutions to 64 channels, one level per stage, written as users write
/// detectors: the neck is a concretely typed field, invoked with <c>call(...)</c> or, like many C# detectors, with
/// <c>forward(...)</c> (then the library records it through a stand-in instead of a hook).
/// </summary>
internal sealed class SmallDetector : nn.Module<Tensor, Tensor[]>
{
    private readonly Sequential stem;
    private readonly Sequential stage2;
    private readonly Sequential stage3;
    private readonly SmallNeck neck;
    private readonly bool neckByForward;

    public SmallDetector(bool neckByForward) : base(nameof(SmallDetector))
    {
        this.neckByForward = neckByForward;
        stem = Stage(3, 32);
        stage2 = Stage(32, 64);
        stage3 = Stage(64, 128);
        neck = new SmallNeck();
        RegisterComponents();
    }

    public override Tensor[] forward(Tensor images)
    {
        var c1 = stem.call(images);
        var c2 = stage2.call(c1);
        var c3 = stage3.call(c2);
        Tensor[] stages = [c1, c2, c3];
        return neckByForward ? neck.forward(stages) : neck.call(stages);
    }

    private static Sequential Stage(long inChannels, long outChannels)
        => nn.Sequential(nn.Conv2d(inChannels, outChannels, 3, stride: 2, padding: 1), nn.BatchNorm2d(outChannels), nn.ReLU());
}

/// <summary>
/// Three 1×1 lateral convolutions to 64 channels: [B, C_l, H_l, W_l] per stage → [B, 64, H_l, W_l] per level. Not
/// sealed, as users' modules usually are not: invoked with <c>forward(...)</c> it is recorded through a stand-in subclass.
/// </summary>
internal class SmallNeck : nn.Module<Tensor[], Tensor[]>
{
    private readonly ModuleList<Conv2d> laterals;

    public SmallNeck() : base(nameof(SmallNeck))
    {
        laterals = nn.ModuleList(nn.Conv2d(32, 64, 1), nn.Conv2d(64, 64, 1), nn.Conv2d(128, 64, 1));
        RegisterComponents();
    }

    public override Tensor[] forward(Tensor[] stages) => [.. stages.Select((stage, level) => laterals[level].call(stage))];
}
