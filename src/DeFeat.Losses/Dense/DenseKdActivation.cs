namespace DeFeat.Losses.Dense;

/// <summary>How <see cref="DecoupledDenseKdLoss"/> turns a dense head's class scores into distributions.</summary>
public enum DenseKdActivation
{
    /// <summary>
    /// One independent sigmoid per class (RetinaNet, FCOS, ATSS, GFL: heads trained with focal or BCE losses, no
    /// background column). Per anchor, q_k = σ(t_k / T), p_k = σ(s_k / T) and the KL is the sum over the K classes of
    /// the binary KL q_k log(q_k / p_k) + (1 − q_k) log((1 − q_k) / (1 − p_k)).
    /// </summary>
    Sigmoid,

    /// <summary>
    /// A softmax over the K columns of each anchor (SSD-style heads whose K columns include a background class).
    /// Per anchor, q = softmax(t / T), p = softmax(s / T) and the KL is Σ_k q_k (log q_k − log p_k).
    /// </summary>
    Softmax,
}
