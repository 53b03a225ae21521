using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Proposals;

/// <summary>
/// DeFeat's decoupled proposal classification KD loss (Guo et al., CVPR 2021): the student's RoI-head class
/// distribution imitates the teacher's, separately on positive (object) and background proposals.
/// </summary>
/// <remarks>
/// <para>
/// With q = softmax(t / T) (teacher) and p = softmax(s / T) (student) per proposal row,
/// KL_T(rows) = Σ_rows Σ_k q_k (log q_k − log p_k) / |rows| · T², and the loss is
/// <c>Object = β_obj · KL_{T_obj}(positive rows)</c>, <c>Background = β_bg · KL_{T_bg}(background rows)</c>,
/// <c>Total = Object + Background</c>. Positive rows are those whose label is a valid class other than the background
/// index; background rows are those whose label equals the background index; rows labelled −1 count in neither set.
/// A set with no rows contributes 0 (its normaliser is max(|rows|, 1)), still with a gradient path and no NaN.
/// </para>
/// <para>
/// Two deliberate differences from the official code: the background temperature T_bg is honoured (the official
/// code defines it but always uses T_obj), and the background class is an explicit index
/// (<see cref="DecoupledProposalKdLossOptions.BackgroundIndex"/>, default the last column K) instead of
/// <c>labels.max()</c>, which mistakes the largest object class for background in a batch without background rows.
/// </para>
/// <para>
/// Precision: float16 / bfloat16 / float32 logits are computed and returned in float32; if either input is float64
/// the loss is computed and returned in float64 (useful for finite-difference gradient checks). Student and teacher
/// may have different floating dtypes. The teacher logits are detached: no gradient reaches them.
/// </para>
/// <para>
/// The computation is vectorised and free of host synchronisation; the label range check reads the host only for
/// CPU labels unless <see cref="DecoupledProposalKdLossOptions.ValidateLabels"/> asks for it on every device.
/// Intermediate tensors are disposed inside <see cref="forward"/>; only the three result tensors are handed to the caller's dispose scope.
/// </para>
/// </remarks>
public sealed class DecoupledProposalKdLoss : nn.Module<Tensor, Tensor, Tensor, DecoupledLoss>
{
    private bool disposed;

    /// <summary>Creates the loss.</summary>
    /// <param name="options">Weights, temperatures, background index and label checking; <c>null</c> uses the
    /// defaults (β_obj = β_bg = 2, T_obj = T_bg = 1, background = last column, labels checked).</param>
    public DecoupledProposalKdLoss(DecoupledProposalKdLossOptions? options = null)
        : base(nameof(DecoupledProposalKdLoss))
    {
        Options = options ?? new DecoupledProposalKdLossOptions();
        RegisterComponents();
    }

    /// <summary>Weights, temperatures, background index and label checking.</summary>
    public DecoupledProposalKdLossOptions Options { get; }

    /// <summary>Computes the decoupled proposal KD loss for R proposals over K + 1 classes.</summary>
    /// <param name="studentLogits">Student RoI-head classification logits [R, K+1] (K ≥ 1), floating point.</param>
    /// <param name="teacherLogits">
    /// Teacher RoI-head classification logits [R, K+1] on the same proposals, floating point, same device; detached.
    /// </param>
    /// <param name="labels">
    /// Proposal labels [R], int64, same device: a class index in [0, K] (the background index marks background
    /// proposals) or −1 to ignore the row.
    /// </param>
    /// <returns>
    /// The weighted object and background parts and their sum: 0-D tensors on the logits' device, float32 (float64
    /// when an input is float64), with a gradient path to <paramref name="studentLogits"/>.
    /// </returns>
    /// <exception cref="ArgumentException">
    /// A logits tensor is not 2-D, not floating point, has fewer than 2 columns, or the two shapes differ; labels are
    /// not [R] int64; the tensors are on different devices; the background index exceeds K; or (when
    /// the label check runs, see <see cref="DecoupledProposalKdLossOptions.ValidateLabels"/>) a label lies outside [−1, K].
    /// </exception>
    public override DecoupledLoss forward(Tensor studentLogits, Tensor teacherLogits, Tensor labels)
    {
        Guard.NotDisposed(disposed, nameof(DecoupledProposalKdLoss));
        Validate(studentLogits, teacherLogits, labels);
        var backgroundIndex = BackgroundIndexFor(studentLogits);

        using var scope = torch.NewDisposeScope();
        if (ValueChecks.Enabled(Options.ValidateLabels, labels))
        {
            ValidateLabelValues(labels, studentLogits.shape[1] - 1);
        }

        var computeType = studentLogits.dtype == ScalarType.Float64 || teacherLogits.dtype == ScalarType.Float64
            ? ScalarType.Float64
            : ScalarType.Float32;
        var student = studentLogits.to_type(computeType);
        var teacher = teacherLogits.detach().to_type(computeType);

        using var background = backgroundIndex.ToScalar();
        var isBackground = labels.eq(background);
        var isPositive = labels.ge(Scalars.Zero).logical_and(isBackground.logical_not());

        var objectRowKl = RowKl(student, teacher, Options.ObjectTemperature);
        var backgroundRowKl = Options.BackgroundTemperature == Options.ObjectTemperature
            ? objectRowKl
            : RowKl(student, teacher, Options.BackgroundTemperature);

        var objectTerm = SetTerm(objectRowKl, isPositive, Options.ObjectWeight, Options.ObjectTemperature);
        var backgroundTerm = SetTerm(backgroundRowKl, isBackground, Options.BackgroundWeight, Options.BackgroundTemperature);

        return new DecoupledLoss(
            objectTerm,
            backgroundTerm).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Per-row Σ_k q_k (log q_k − log p_k) at temperature T, [R], in the logits' dtype; terms with q_k = 0 count as 0.
    /// Above <see cref="Float64Temperature"/> it is computed in float64: the KL then shrinks like 1/T² while float32
    /// rounding of the log-probabilities does not, and T²·KL would be rounding noise (large, even negative, at T = 1e6).
    /// </summary>
    private static Tensor RowKl(Tensor student, Tensor teacher, double temperature)
    {
        var wide = temperature > Float64Temperature && student.dtype != ScalarType.Float64;
        using var temperatureScalar = temperature.ToScalar();
        var studentLogProbabilities = ((wide ? student.to(ScalarType.Float64) : student) / temperatureScalar).log_softmax(1);
        var teacherLogProbabilities = ((wide ? teacher.to(ScalarType.Float64) : teacher) / temperatureScalar).log_softmax(1);
        var teacherProbabilities = teacherLogProbabilities.exp();
        var terms = teacherProbabilities * (teacherLogProbabilities - studentLogProbabilities);
        // 0 · log 0 = 0: without this, a class both networks rule out (-inf logits) would give 0 · (-inf + inf) = NaN.
        var rowKl = terms.masked_fill(teacherProbabilities.eq(Scalars.ZeroDouble), Scalars.ZeroDouble).sum(1);
        return wide ? rowKl.to(student.dtype) : rowKl;
    }

    /// <summary>The temperature above which the KL is computed in float64 (below it, the ordinary temperatures 1–16, the computation stays in the inputs' dtype).</summary>
    internal const double Float64Temperature = 16;

    /// <summary>β · T² · Σ_{rows in set} rowKl / max(|set|, 1), a 0-D tensor.</summary>
    private static Tensor SetTerm(Tensor rowKl, Tensor inSet, double weight, double temperature)
    {
        // masked_fill, not a multiplication by a 0/1 mask: an infinite KL in a row outside the set must not turn into
        // 0 · inf = NaN.
        var setSum = rowKl.masked_fill(inSet.logical_not(), Scalars.ZeroDouble).sum();
        var setCount = inSet.sum(rowKl.dtype).clamp_min(Scalars.OneDouble);
        using var scale = (weight * temperature * temperature).ToScalar();
        return setSum / setCount * scale;
    }

    private static void Validate(Tensor studentLogits, Tensor teacherLogits, Tensor labels)
    {
        Guard.NotNull(studentLogits, nameof(studentLogits));
        Guard.NotNull(teacherLogits, nameof(teacherLogits));
        Guard.NotNull(labels, nameof(labels));

        Guard.Rank(studentLogits, 2, nameof(studentLogits), "[R, K+1]");
        Guard.FloatingPoint(studentLogits, nameof(studentLogits));
        Guard.MinimumSize(studentLogits, 1, 2, nameof(studentLogits), "columns (K ≥ 1 object classes + background)");
        Guard.Rank(teacherLogits, 2, nameof(teacherLogits), "[R, K+1]");
        Guard.FloatingPoint(teacherLogits, nameof(teacherLogits));
        Guard.Shape(teacherLogits, studentLogits.shape, nameof(teacherLogits));
        Guard.Rank(labels, 1, nameof(labels), "[R]");
        Guard.Shape(labels, [studentLogits.shape[0]], nameof(labels));
        Guard.DType(labels, ScalarType.Int64, nameof(labels));
        Guard.SameDevice(teacherLogits, studentLogits.device, nameof(teacherLogits));
        Guard.SameDevice(labels, studentLogits.device, nameof(labels));
    }

    private long BackgroundIndexFor(Tensor studentLogits)
    {
        var lastClass = studentLogits.shape[1] - 1;
        var backgroundIndex = Options.BackgroundIndex ?? lastClass;
        if (backgroundIndex > lastClass)
        {
            throw new ArgumentOutOfRangeException(
                nameof(DecoupledProposalKdLossOptions.BackgroundIndex),
                backgroundIndex,
                $"{nameof(DecoupledProposalKdLossOptions.BackgroundIndex)} must lie in [0, K] = [0, {lastClass}] for " +
                $"logits of shape {Guard.Shape(studentLogits)}; got {backgroundIndex}.");
        }

        return backgroundIndex;
    }

    /// <summary>The loss's only host read (when enabled): one combined read of the labels' minimum and maximum.</summary>
    private static void ValidateLabelValues(Tensor labels, long lastClass)
    {
        if (labels.shape[0] == 0)
        {
            return;
        }

        var extremes = torch.stack([labels.min(), labels.max()]).cpu().data<long>().ToArray();
        var (minimum, maximum) = (extremes[0], extremes[1]);
        if (minimum < -1 || maximum > lastClass)
        {
            var offending = minimum < -1 ? minimum : maximum;
            throw new ArgumentOutOfRangeException(
                nameof(labels),
                offending,
                $"{nameof(labels)} must be -1 (ignore) or a class index in [0, K] = [0, {lastClass}]; got values in " +
                $"[{minimum}, {maximum}].");
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        disposed = true;
        base.Dispose(disposing);
    }
}
