using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Dense;

/// <summary>
/// Decoupled classification KD on a one-stage detector's dense head (RetinaNet, FCOS, ATSS, YOLO-style): the
/// student's per-anchor class distribution imitates the teacher's, separately on object and background anchors, each
/// part averaged over its own anchors of all FPN levels.
/// </summary>
/// <remarks>
/// <para>
/// Level l has score maps [B, A·K, H_l, W_l] (A = <see cref="DecoupledDenseKdLossOptions.AnchorsPerLocation"/>,
/// K = <see cref="DecoupledDenseKdLossOptions.Classes"/>; channel a·K + k holds class k of anchor a, the layout of
/// mmdetection's and torchvision's heads). For anchor n = (b, a, h, w) of level l, with student logits s and teacher
/// logits t of that anchor, KL_T(n) is
/// </para>
/// <code>
/// Sigmoid: Σ_k q_k (log q_k − log p_k) + (1 − q_k)(log(1 − q_k) − log(1 − p_k)),  q_k = σ(t_k/T), p_k = σ(s_k/T)
/// Softmax: Σ_k q_k (log q_k − log p_k),                                            q = softmax(t/T), p = softmax(s/T)
/// </code>
/// <para>
/// and with the anchor's object weight w(n) ∈ [0, 1] (from <c>objectWeights</c>, see <see cref="forward"/>):
/// </para>
/// <code>
/// Object     = β_obj · T_obj² · Σ_l Σ_n w(n)·KL_{T_obj}(n)       / max(1, Σ_l Σ_n w(n))
/// Background = β_bg  · T_bg²  · Σ_l Σ_n (1 − w(n))·KL_{T_bg}(n) / max(1, Σ_l Σ_n (1 − w(n)))
/// Total      = Object + Background
/// </code>
/// <para>
/// Both sums run over every anchor of every level and image (pooled, like RetinaNet's division of its focal loss by
/// the number of positive anchors of the batch), so a level contributes in proportion to its anchors: unlike
/// <see cref="Features.DecoupledFeatureLoss"/> there is no 1/L average over levels. A per-location weight
/// [B, H_l, W_l] counts once for each of the A anchors of its location. Without any object anchor (all-zero weights)
/// the object part is 0 — with a (zero) gradient path and no NaN — and the background part covers every anchor;
/// all-one weights give a zero background part likewise.
/// </para>
/// <para>
/// Numerics: log-probabilities come from <c>log_sigmoid</c> / <c>log_softmax</c> of the scaled logits (log(1 − σ(x))
/// as log σ(−x)), never from the log of a probability, and q·(log q − log p) counts as 0 where q = 0 (a class the
/// teacher rules out with a −∞ logit), so saturated or masked logits give finite values. The teacher scores are
/// detached inside the loss: no gradient reaches the teacher.
/// </para>
/// <para>
/// Precision: float16, bfloat16 and float32 scores are cast to float32 before the scaling, so the loss is computed and
/// returned in float32; if any student or teacher level is float64 the loss is computed and returned in float64.
/// Weights are cast to that dtype. They are expected to lie in [0, 1]; this is not checked, as that would need a host
/// synchronisation. The loss never synchronises with the device; its intermediates are disposed inside
/// <see cref="forward"/>, only the three result tensors are handed to the caller's dispose scope.
/// </para>
/// </remarks>
public sealed class DecoupledDenseKdLoss : nn.Module<IReadOnlyList<Tensor>, IReadOnlyList<Tensor>, IReadOnlyList<Tensor>, DecoupledLoss>
{
    /// <summary>The K (class) axis of the [B, A, K, H, W] view of a level's scores.</summary>
    private const long ClassAxis = 2;

    private bool disposed;

    /// <summary>Creates the loss.</summary>
    /// <param name="options">
    /// The head layout (K classes, A anchors per location), the activation, the weights β_obj, β_bg and the
    /// temperatures T_obj, T_bg.
    /// </param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// <see cref="DenseKdActivation.Softmax"/> with <see cref="DecoupledDenseKdLossOptions.Classes"/> = 1 (a softmax
    /// over one column is constant and its KL always 0).
    /// </exception>
    public DecoupledDenseKdLoss(DecoupledDenseKdLossOptions options)
        : base(nameof(DecoupledDenseKdLoss))
    {
        Options = Guard.NotNull(options, nameof(options));
        if (options.Activation == DenseKdActivation.Softmax && options.Classes < 2)
        {
            throw new ArgumentException(
                $"{nameof(options)}.{nameof(DecoupledDenseKdLossOptions.Classes)} must be >= 2 with the Softmax activation "
                + $"(a softmax over one column is constant, so its KL is always 0); got {options.Classes}. Use Sigmoid for a "
                + "single-class sigmoid head.",
                nameof(options));
        }

        RegisterComponents();
    }

    /// <summary>The head layout, activation, weights and temperatures.</summary>
    public DecoupledDenseKdLossOptions Options { get; }

    /// <summary>Computes the decoupled dense-head KD loss over all levels.</summary>
    /// <param name="studentScores">
    /// The student head's class logits per level l = 1..L, [B, A·K, H_l, W_l], floating point (before the sigmoid or
    /// softmax). Channel a·K + k is class k of anchor a.
    /// </param>
    /// <param name="teacherScores">
    /// The teacher head's class logits, the same shape as the student level, floating point, same device (detached
    /// here).
    /// </param>
    /// <param name="objectWeights">
    /// The object weight w of every anchor per level, in [0, 1] (1 = object, 0 = background, or soft weights), either
    /// per location [B, H_l, W_l] — shared by the A anchors of the location, e.g. the masks of the
    /// <c>DeFeat.Losses.Masks</c> builders — or per anchor [B, A, H_l, W_l] (e.g. a head's positive-anchor
    /// assignment); floating point, same device. Levels may mix the two layouts.
    /// </param>
    /// <returns>
    /// β_obj·(object KL), β_bg·(background KL), their sum and each level's share of the two terms (its KL sum over
    /// the common normaliser): 0-D tensors on the inputs' device, float32 (float64 when
    /// a score level is float64), with a gradient path to <paramref name="studentScores"/>.
    /// </returns>
    /// <exception cref="ArgumentNullException">A list or a tensor in it is null.</exception>
    /// <exception cref="ObjectDisposedException">The loss or an input tensor was disposed.</exception>
    /// <exception cref="ArgumentException">
    /// No level; the lists differ in level count; a tensor has the wrong rank, a non-floating dtype or another device
    /// than <c>studentScores[0]</c>; a student level has other than A·K channels; a teacher level's shape differs from
    /// the student's; a weight map is neither [B, H_l, W_l] nor [B, A, H_l, W_l].
    /// </exception>
    public override DecoupledLoss forward(
        IReadOnlyList<Tensor> studentScores,
        IReadOnlyList<Tensor> teacherScores,
        IReadOnlyList<Tensor> objectWeights)
    {
        Guard.NotDisposed(disposed, nameof(DecoupledDenseKdLoss));
        Validate(studentScores, teacherScores, objectWeights);

        using var scope = torch.NewDisposeScope();
        var computeType = studentScores.Concat(teacherScores).Any(tensor => tensor.dtype == ScalarType.Float64)
            ? ScalarType.Float64
            : ScalarType.Float32;
        var device = studentScores[0].device;
        var objectSum = torch.zeros(Array.Empty<long>(), computeType, device);
        var backgroundSum = torch.zeros(Array.Empty<long>(), computeType, device);
        var objectMass = torch.zeros(Array.Empty<long>(), computeType, device);
        var backgroundMass = torch.zeros(Array.Empty<long>(), computeType, device);
        var objectLevelSums = new Tensor[studentScores.Count];
        var backgroundLevelSums = new Tensor[studentScores.Count];
        for (var level = 0; level < studentScores.Count; level++)
        {
            var student = AnchorView(studentScores[level].to_type(computeType));
            var teacher = AnchorView(teacherScores[level].detach().to_type(computeType));
            var objectAnchors = AnchorWeights(objectWeights[level].to_type(computeType), student.shape);
            var backgroundAnchors = objectAnchors.negative().add(Scalars.OneDouble, Scalars.One);

            var objectKl = AnchorKl(student, teacher, Options.ObjectTemperature);
            var backgroundKl = Options.BackgroundTemperature == Options.ObjectTemperature
                ? objectKl
                : AnchorKl(student, teacher, Options.BackgroundTemperature);

            objectLevelSums[level] = (objectKl * objectAnchors).sum();
            backgroundLevelSums[level] = (backgroundKl * backgroundAnchors).sum();
            objectSum = objectSum.add(objectLevelSums[level], Scalars.One);
            backgroundSum = backgroundSum.add(backgroundLevelSums[level], Scalars.One);
            objectMass = objectMass.add(objectAnchors.sum(), Scalars.One);
            backgroundMass = backgroundMass.add(backgroundAnchors.sum(), Scalars.One);
        }

        using var objectScale = (Options.ObjectWeight * Options.ObjectTemperature * Options.ObjectTemperature).ToScalar();
        using var backgroundScale = (Options.BackgroundWeight * Options.BackgroundTemperature * Options.BackgroundTemperature).ToScalar();
        var objectNormaliser = objectMass.clamp_min(Scalars.OneDouble);
        var backgroundNormaliser = backgroundMass.clamp_min(Scalars.OneDouble);
        var objectLoss = objectSum / objectNormaliser * objectScale;
        var backgroundLoss = backgroundSum / backgroundNormaliser * backgroundScale;
        for (var level = 0; level < objectLevelSums.Length; level++)
        {
            objectLevelSums[level] = objectLevelSums[level] / objectNormaliser * objectScale;
            backgroundLevelSums[level] = backgroundLevelSums[level] / backgroundNormaliser * backgroundScale;
        }

        return new DecoupledLoss(objectLoss, backgroundLoss, objectLevelSums, backgroundLevelSums).MoveToOuterDisposeScope();
    }

    /// <summary>[B, A·K, H, W] → [B, A, K, H, W] (a view when the layout allows it).</summary>
    private Tensor AnchorView(Tensor scores)
        => scores.reshape(scores.shape[0], Options.AnchorsPerLocation, Options.Classes, scores.shape[2], scores.shape[3]);

    /// <summary>The weights as [B, A, H, W]: a per-location map [B, H, W] is expanded (not copied) over the A anchors.</summary>
    private static Tensor AnchorWeights(Tensor weights, long[] anchorShape)
    {
        long[] shape = [anchorShape[0], anchorShape[1], anchorShape[3], anchorShape[4]];
        return weights.dim() == 3 ? weights.unsqueeze(1).expand(shape) : weights;
    }

    /// <summary>
    /// KL_T of every anchor, [B, A, H, W], summed over the K axis, in the scores' dtype. Above
    /// <see cref="Float64Temperature"/> it is computed in float64: the KL shrinks like 1/T² while float32 rounding of the
    /// log-probabilities does not, and T²·KL would be rounding noise (large, even negative, at T = 1e6).
    /// </summary>
    private Tensor AnchorKl(Tensor student, Tensor teacher, double temperature)
    {
        var wide = temperature > Float64Temperature && student.dtype != ScalarType.Float64;
        using var temperatureScalar = temperature.ToScalar();
        var scaledStudent = (wide ? student.to(ScalarType.Float64) : student) / temperatureScalar;
        var scaledTeacher = (wide ? teacher.to(ScalarType.Float64) : teacher) / temperatureScalar;
        Tensor kl;
        if (Options.Activation == DenseKdActivation.Softmax)
        {
            var teacherLog = scaledTeacher.log_softmax(ClassAxis);
            kl = KlTerms(teacherLog, scaledStudent.log_softmax(ClassAxis)).sum(ClassAxis);
        }
        else
        {
            // Binary KL per class: the "is class k" and the "is not class k" outcome, log(1 − σ(x)) = log σ(−x).
            var positive = KlTerms(scaledTeacher.log_sigmoid(), scaledStudent.log_sigmoid());
            var negative = KlTerms(scaledTeacher.negative().log_sigmoid(), scaledStudent.negative().log_sigmoid());
            kl = positive.add(negative, Scalars.One).sum(ClassAxis);
        }

        return wide ? kl.to(student.dtype) : kl;
    }

    /// <summary>The temperature above which the KL is computed in float64 (below it, the ordinary temperatures 1–16, the computation stays in the inputs' dtype).</summary>
    internal const double Float64Temperature = 16;

    /// <summary>q·(log q − log p) from the log-probabilities, with 0·log 0 = 0 where q = 0.</summary>
    private static Tensor KlTerms(Tensor teacherLog, Tensor studentLog)
    {
        var teacherProbabilities = teacherLog.exp();
        var terms = teacherProbabilities * (teacherLog - studentLog);
        // Without the fill, a class both networks rule out (−∞ logits) would give 0·(−∞ + ∞) = NaN.
        return terms.masked_fill(teacherProbabilities.eq(Scalars.ZeroDouble), Scalars.ZeroDouble);
    }

    private void Validate(IReadOnlyList<Tensor> studentScores, IReadOnlyList<Tensor> teacherScores, IReadOnlyList<Tensor> objectWeights)
    {
        Guard.NotNull(studentScores, nameof(studentScores));
        Guard.NotNull(teacherScores, nameof(teacherScores));
        Guard.NotNull(objectWeights, nameof(objectWeights));
        Guard.NotEmpty(studentScores, nameof(studentScores));
        Guard.Count(teacherScores.Count, studentScores.Count, nameof(teacherScores), "score maps");
        Guard.Count(objectWeights.Count, studentScores.Count, nameof(objectWeights), "weight maps");

        var (anchors, classes) = (Options.AnchorsPerLocation, Options.Classes);
        var device = Guard.NotNull(studentScores[0], $"{nameof(studentScores)}[0]").device;
        for (var level = 0; level < studentScores.Count; level++)
        {
            var studentName = $"{nameof(studentScores)}[{level}]";
            var teacherName = $"{nameof(teacherScores)}[{level}]";
            var weightName = $"{nameof(objectWeights)}[{level}]";
            var student = Guard.NotNull(studentScores[level], studentName);
            var teacher = Guard.NotNull(teacherScores[level], teacherName);
            var weights = Guard.NotNull(objectWeights[level], weightName);

            Guard.Rank(student, 4, studentName, "[B, A·K, H, W]");
            Guard.FloatingPoint(student, studentName);
            Guard.SameDevice(student, device, studentName);
            if (student.shape[1] != (long)anchors * classes)
            {
                throw new ArgumentException(
                    $"{studentName} must have A·K = {anchors}·{classes} = {(long)anchors * classes} channels "
                    + $"({nameof(DecoupledDenseKdLossOptions.AnchorsPerLocation)} · {nameof(DecoupledDenseKdLossOptions.Classes)}); "
                    + $"got shape {Guard.Shape(student)}.",
                    studentName);
            }

            Guard.Rank(teacher, 4, teacherName, "[B, A·K, H, W]");
            Guard.FloatingPoint(teacher, teacherName);
            Guard.SameDevice(teacher, device, teacherName);
            Guard.Shape(teacher, student.shape, teacherName);

            Guard.FloatingPoint(weights, weightName);
            Guard.SameDevice(weights, device, weightName);
            var (batch, height, width) = (student.shape[0], student.shape[2], student.shape[3]);
            long[] perLocation = [batch, height, width], perAnchor = [batch, anchors, height, width];
            if (!weights.shape.SequenceEqual(perLocation) && !weights.shape.SequenceEqual(perAnchor))
            {
                throw new ArgumentException(
                    $"{weightName} must have shape {Guard.Format(perLocation)} (per location) or {Guard.Format(perAnchor)} "
                    + $"(per anchor); got {Guard.Shape(weights)}.",
                    weightName);
            }
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        disposed = true;
        base.Dispose(disposing);
    }
}
