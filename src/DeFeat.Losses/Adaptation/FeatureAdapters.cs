using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Adaptation;

/// <summary>Per-level 3x3 adaptation convolutions, student channels to teacher channels (STUB: being implemented).</summary>
public sealed class FeatureAdapters : nn.Module<IReadOnlyList<Tensor>, Tensor[]>
{
    /// <summary>One adapter per level: studentChannels[l] to teacherChannels[l].</summary>
    public FeatureAdapters(IReadOnlyList<long> studentChannels, IReadOnlyList<long> teacherChannels)
        : base(nameof(FeatureAdapters))
    {
        RegisterComponents();
    }

    /// <summary>Adapts each level: [B, C_s,l, H_l, W_l] to [B, C_t,l, H_l, W_l].</summary>
    public override Tensor[] forward(IReadOnlyList<Tensor> studentFeatures) => throw new NotImplementedException();
}
