using DeFeat.Losses;
using static TorchSharp.torch;

namespace DeFeat.Benchmarks.Official;

/// <summary>
/// The official DeFeat neck loss (DeFeat.pytorch <c>train.py</c>, neck-decouple with pixel-wise masks), ported step by
/// step as the baseline. Per level: the [B, H, W] float64 mask repeated over the C channels; the normaliser
/// Python-<c>max(1, 2·Σ mask)</c> (a host read, as <c>max</c> on a tensor is); then two separate masked passes,
/// Σ (S−T)²·M and Σ (S−T)²·(1−M), each recomputing the difference, in float64 through the mask.
/// </summary>
internal sealed class OfficialNeckLoss(double objectWeight, double backgroundWeight)
{
    /// <summary>S_l [B, C, H_l, W_l] (adapted student), T_l [B, C, H_l, W_l], M_l [B, H_l, W_l] float64.</summary>
    public DecoupledLoss Forward(IReadOnlyList<Tensor> student, IReadOnlyList<Tensor> teacher, IReadOnlyList<Tensor> masks)
    {
        Tensor objectSum = zeros(1, ScalarType.Float64, student[0].device);
        Tensor backgroundSum = zeros(1, ScalarType.Float64, student[0].device);
        for (var level = 0; level < student.Count; level++)
        {
            var s = student[level];
            var t = teacher[level].detach();
            var mask = masks[level].unsqueeze(1).repeat(1, s.shape[1], 1, 1);

            var objectNorm = mask.sum() * 2;
            var objectLoss = (pow(s - t, 2) * mask).sum() / PythonMaxOne(objectNorm);

            var backgroundMask = 1 - mask;
            var backgroundNorm = backgroundMask.sum() * 2;
            var backgroundLoss = (pow(s - t, 2) * backgroundMask).sum() / PythonMaxOne(backgroundNorm);

            objectSum = objectSum + objectLoss;
            backgroundSum = backgroundSum + backgroundLoss;
        }

        var objectTerm = objectSum * (objectWeight / student.Count);
        var backgroundTerm = backgroundSum * (backgroundWeight / student.Count);
        return new DecoupledLoss(objectTerm, backgroundTerm);
    }

    /// <summary>Python's <c>max(1.0, norm)</c> on a 0-D tensor: the comparison is read back to the host.</summary>
    private static Tensor PythonMaxOne(Tensor norm) => norm.gt(1.0).item<bool>() ? norm : tensor(1.0, norm.dtype, norm.device);
}
