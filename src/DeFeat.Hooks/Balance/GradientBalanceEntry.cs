namespace DeFeat.Hooks.Balance;

/// <summary>
/// One row of a <see cref="GradientBalanceReport"/>: at one student tensor of one term (one level), the norm of a
/// distillation loss's gradient against the norm of the detector's own (task) loss gradient, and the cosine between them.
/// </summary>
/// <param name="Site">
/// Where the gradients were taken: the term's name for the student tensors the term reads (the default), or the name of
/// a site the caller passed (e.g. <c>backbone_c5</c>).
/// </param>
/// <param name="Term">The term's name, e.g. <c>neck</c>.</param>
/// <param name="Loss">
/// The distillation loss whose gradient was measured: a part's name (e.g. <c>neck_background</c>) or, for the sum of the
/// term's parts, the term's name.
/// </param>
/// <param name="Level">The position of the student tensor among the site's tensors (0 = the first level the term reads).</param>
/// <param name="DistillationNorm">‖∂L_kd/∂x‖₂ over the whole tensor x (batch included), in loss units per feature unit.</param>
/// <param name="TaskNorm">‖∂L_task/∂x‖₂ at the same tensor; 0 when the task loss does not reach it.</param>
/// <param name="Cosine">
/// cos(∂L_kd/∂x, ∂L_task/∂x) in [−1, 1]: near 1 the two pull the features the same way, near −1 against each other,
/// near 0 independently; NaN when either gradient is zero.
/// </param>
public sealed record GradientBalanceEntry(string Site, string Term, string Loss, int Level, double DistillationNorm, double TaskNorm, double Cosine)
{
    /// <summary>
    /// <see cref="DistillationNorm"/> / <see cref="TaskNorm"/>: how many times stronger the distillation pull on these
    /// features is than the detector's own; +∞ when the task loss does not reach them, NaN when neither does.
    /// </summary>
    public double Ratio => DistillationNorm / TaskNorm;

    /// <summary>Whether this row is the sum of the term's parts (<see cref="Loss"/> is the term's name) rather than one part.</summary>
    public bool IsTermTotal => Loss == Term;
}
