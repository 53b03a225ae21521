using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Proposals;

/// <summary>DeFeat's decoupled proposal classification KD loss (STUB: being implemented).</summary>
public sealed class DecoupledProposalKdLoss : nn.Module<Tensor, Tensor, Tensor, DecoupledLoss>
{
    /// <summary>Creates the loss.</summary>
    public DecoupledProposalKdLoss(DecoupledProposalKdLossOptions? options = null)
        : base(nameof(DecoupledProposalKdLoss))
    {
        Options = options ?? new DecoupledProposalKdLossOptions();
        RegisterComponents();
    }

    /// <summary>Weights, temperatures and background index.</summary>
    public DecoupledProposalKdLossOptions Options { get; }

    /// <summary>studentLogits [R, K+1], teacherLogits [R, K+1], labels [R] int64 (background index; -1 ignore).</summary>
    public override DecoupledLoss forward(Tensor studentLogits, Tensor teacherLogits, Tensor labels)
        => throw new NotImplementedException();
}
