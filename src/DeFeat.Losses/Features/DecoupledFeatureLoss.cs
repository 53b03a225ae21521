using DeFeat.Losses.Adaptation;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Features;

/// <summary>DeFeat's decoupled neck-feature imitation loss (STUB: being implemented).</summary>
public sealed class DecoupledFeatureLoss : nn.Module<IReadOnlyList<Tensor>, IReadOnlyList<Tensor>, IReadOnlyList<Tensor>, DecoupledLoss>
{
    /// <summary>Creates the loss.</summary>
    public DecoupledFeatureLoss(DecoupledFeatureLossOptions? options = null, FeatureAdapters? adapters = null)
        : base(nameof(DecoupledFeatureLoss))
    {
        Options = options ?? new DecoupledFeatureLossOptions();
        Adapters = adapters;
        RegisterComponents();
    }

    /// <summary>The weights.</summary>
    public DecoupledFeatureLossOptions Options { get; }

    /// <summary>The per-level adaptation layers, or null.</summary>
    public FeatureAdapters? Adapters { get; }

    /// <summary>Student features S_l [B, C_s, H_l, W_l], teacher features T_l [B, C_t, H_l, W_l], masks M_l [B, H_l, W_l].</summary>
    public override DecoupledLoss forward(IReadOnlyList<Tensor> studentFeatures, IReadOnlyList<Tensor> teacherFeatures, IReadOnlyList<Tensor> objectMasks)
        => throw new NotImplementedException();
}
