using static TorchSharp.torch;

namespace DeFeat.Losses;

/// <summary>
/// The result of a decoupled DeFeat loss: the object term and the background term, each already multiplied by its
/// weight, and their sum. All three are 0-D tensors on the inputs' device — float32 for float16, bfloat16 and float32
/// inputs (the losses accumulate in float32), float64 for float64 inputs — with a gradient path to the student inputs
/// (and to the adaptation layers, when there are any).
/// </summary>
/// <param name="Object">Weighted object (foreground / positive-proposal) term, a 0-D tensor.</param>
/// <param name="Background">Weighted background (negative-proposal) term, a 0-D tensor.</param>
/// <param name="Total">
/// <paramref name="Object"/> + <paramref name="Background"/>, a 0-D tensor: add it to the detector's own loss.
/// </param>
public sealed record DecoupledLoss(Tensor Object, Tensor Background, Tensor Total);
