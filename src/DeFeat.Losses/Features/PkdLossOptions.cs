namespace DeFeat.Losses.Features;

/// <summary>
/// Weight, resizing and normalisation of <see cref="PkdLoss"/>. The defaults are those of mmrazor's
/// <c>PKDLoss</c> (loss weight 1, the student resized to the teacher's size, statistics per channel over the batch).
/// </summary>
public sealed record PkdLossOptions
{
    /// <summary>
    /// ε, added to the standard deviation before dividing by it: norm(x) = (x − μ) / (σ + ε), as in mmrazor. It keeps a
    /// constant channel (σ = 0) finite: its normalised values are 0.
    /// </summary>
    public const double Epsilon = 1e-6;

    /// <summary>The weight w the sum over levels is multiplied by; finite, ≥ 0. Default 1 (mmrazor's <c>loss_weight</c>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative or not finite.</exception>
    public double LossWeight
    {
        get;
        init => field = Guard.NonNegative(value, nameof(LossWeight));
    } = 1.0;

    /// <summary>
    /// When a level's student and teacher maps differ in height or width: <c>true</c> (the default, mmrazor's
    /// <c>resize_stu</c>) resizes the student map to the teacher's size, <c>false</c> the teacher map to the student's;
    /// bilinear, <c>align_corners = false</c>.
    /// </summary>
    public bool ResizeStudent { get; init; } = true;

    /// <summary>
    /// Where the mean and standard deviation of a channel are taken: <c>false</c> (the default, as mmrazor) over the
    /// whole batch and the map, N = B·H·W values per channel; <c>true</c> per image, N = H·W values per image and
    /// channel (a loss that does not depend on which images share a batch).
    /// </summary>
    public bool NormalizePerSample { get; init; }
}
