namespace DeFeat.Hooks.Terms;

/// <summary>
/// Whether a dense head's class scores (the tensors a <see cref="DenseHeadKdTerm"/> taps) are logits or the
/// probabilities after the head's own sigmoid or softmax. The activation itself is
/// <see cref="Losses.Dense.DecoupledDenseKdLossOptions.Activation"/>.
/// </summary>
public enum DenseScoreKind
{
    /// <summary>Logits, before any sigmoid or softmax (most heads' training output). The default.</summary>
    Logits,

    /// <summary>
    /// Probabilities in [0, 1], after the head's sigmoid (e.g. ML.NET's AutoFormerV2 <c>RetinaHead</c>) or softmax. The
    /// term turns them back into logits before the loss: with ε the machine epsilon of the dtype the KD is computed in
    /// (2⁻²³ in float32, used for float16, bfloat16 and float32 scores; 2⁻⁵² in float64), a sigmoid probability p becomes
    /// log p′ − log(1 − p′) with p′ = clamp(p, ε, 1 − ε), a softmax one log max(p, ε). So probabilities of exactly 0 or 1
    /// give finite logits (|logit| ≤ ln(1/ε − 1): 15.9 in float32, 36.0 in float64) and a finite loss, and elsewhere the loss
    /// is the one on the head's logits up to the rounding of the probabilities. A probability clamped at ε or 1 − ε passes
    /// no gradient.
    /// </summary>
    Probabilities,
}
