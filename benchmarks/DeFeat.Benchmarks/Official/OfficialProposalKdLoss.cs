using DeFeat.Losses;
using static TorchSharp.torch;

namespace DeFeat.Benchmarks.Official;

/// <summary>
/// The official DeFeat proposal KD (DeFeat.pytorch <c>KLDivergenceLoss</c>, KL-decouple), ported step by step as the
/// baseline: background = <c>labels.max()</c>; the positive and background rows picked by boolean-mask indexing
/// (a host synchronisation each, for the result's size); per set <c>kl_div(log_softmax(s/T), softmax(t/T), sum)</c>
/// / rows · T² (PyTorch's default <c>log_target=False</c>, written out: TorchSharp's default is true). Only the temperature the official code really uses (T_obj, for both sets) is modelled.
/// </summary>
internal sealed class OfficialProposalKdLoss(double objectWeight, double backgroundWeight, double temperature)
{
    /// <summary>Student and teacher logits [R, K+1], labels [R] int64.</summary>
    public DecoupledLoss Forward(Tensor studentLogits, Tensor teacherLogits, Tensor labels)
    {
        var background = labels.max();
        var positive = labels.ge(0).logical_and(labels.lt(background));
        var negative = labels.eq(background);
        var objectTerm = Kl(studentLogits[positive], teacherLogits[positive].detach()) * objectWeight;
        var backgroundTerm = Kl(studentLogits[negative], teacherLogits[negative].detach()) * backgroundWeight;
        return new DecoupledLoss(objectTerm, backgroundTerm);
    }

    private Tensor Kl(Tensor student, Tensor teacher)
    {
        var logP = nn.functional.log_softmax(student / temperature, 1);
        var q = nn.functional.softmax(teacher / temperature, 1);
        return nn.functional.kl_div(logP, q, reduction: nn.Reduction.Sum, log_target: false) * (temperature * temperature) / student.shape[0];
    }
}
