using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Features;

/// <summary>
/// PKD feature imitation (Cao et al., NeurIPS 2022, "PKD: General Distillation Framework for Object Detectors via
/// Pearson Correlation Coefficient"): the student's FPN features imitate the teacher's after both are normalised to
/// zero mean and unit variance per channel, so only their correlation is imitated, not their magnitude. It follows
/// mmrazor's <c>PKDLoss</c>, the reference implementation.
/// </summary>
/// <remarks>
/// <para>
/// For levels l = 1..L, with S_l and T_l of shape [B, C, H, W] (after the resizing described below), per channel c:
/// </para>
/// <code>
/// μ_c = (1/N) Σ x,  σ_c = √(Σ (x − μ_c)² / (N − 1)),  norm(x) = (x − μ_c) / (σ_c + ε),  ε = 1e-6
/// loss_l = (1 / (B·C·H·W)) Σ_{b,c,h,w} (norm(S_l) − norm(T_l))² / 2
/// Total  = w · Σ_l loss_l
/// </code>
/// <para>
/// The sums of μ_c and σ_c run over the N = B·H·W values of channel c in the batch (mmrazor's normalisation), or with
/// <see cref="PkdLossOptions.NormalizePerSample"/> over the N = H·W values of each image separately. σ_c is the
/// unbiased (N − 1) standard deviation and ε is added to it, outside the square root, both as in mmrazor. Up to ε,
/// loss_l = ((N − 1)/N) · (1 − r̄_l), r̄_l being the mean over channels (and images) of the Pearson correlation of
/// student and teacher: the loss is invariant to a per-channel affine map x → a·x + b (a &gt; 0) of either input.
/// </para>
/// <para>
/// Spatial sizes: when a level's student and teacher maps differ in height or width, the student map is resized to
/// the teacher's size (or, with <see cref="PkdLossOptions.ResizeStudent"/> = false, the teacher map to the
/// student's), bilinear with <c>align_corners = false</c>, as mmrazor does (which compares the heights only). Batch
/// sizes and channel counts must match: PKD has no adaptation layer; give the student an
/// <see cref="Adaptation.FeatureAdapters"/> (or another 1×1 / 3×3 conv) of its own first when they differ.
/// </para>
/// <para>
/// The teacher features are detached inside the loss. Precision: float16, bfloat16 and float32 features are cast to
/// float32 before the resizing and the normalisation, so the loss is computed and returned in float32; if a student or
/// teacher level is float64, in float64. The loss never synchronises with the device; its intermediates are disposed
/// inside <see cref="forward"/>, only the result is handed to the caller's dispose scope.
/// </para>
/// </remarks>
public sealed class PkdLoss : nn.Module<IReadOnlyList<Tensor>, IReadOnlyList<Tensor>, Tensor>
{
    private bool disposed;

    /// <summary>Creates the loss.</summary>
    /// <param name="options">Weight, resizing and normalisation; null = mmrazor's defaults (see <see cref="PkdLossOptions"/>).</param>
    public PkdLoss(PkdLossOptions? options = null)
        : base(nameof(PkdLoss))
    {
        Options = options ?? new PkdLossOptions();
        RegisterComponents();
    }

    /// <summary>Weight, resizing and normalisation.</summary>
    public PkdLossOptions Options { get; }

    /// <summary>Computes the PKD loss over all levels.</summary>
    /// <param name="studentFeatures">S_l [B, C_l, H_s,l, W_s,l] for l = 1..L, floating point.</param>
    /// <param name="teacherFeatures">
    /// T_l [B, C_l, H_t,l, W_t,l], floating point, same device, batch size and channels as the student level (the
    /// spatial size may differ); detached here.
    /// </param>
    /// <returns>
    /// w · Σ_l loss_l, a 0-D tensor on the inputs' device, float32 (float64 when a level is float64), with a gradient
    /// path to <paramref name="studentFeatures"/>. It is dimensionless (a correlation distance), in [0, 2·w·L]
    /// up to ε.
    /// </returns>
    /// <exception cref="ArgumentNullException">A list or a tensor in it is null.</exception>
    /// <exception cref="ObjectDisposedException">The loss or an input tensor was disposed.</exception>
    /// <exception cref="ArgumentException">
    /// No level; the lists differ in level count; a tensor is not 4-D, not floating point, or on another device than
    /// <c>studentFeatures[0]</c>; a teacher level's batch size or channels differ from the student's; the compared size
    /// leaves fewer than 2 values per normalised channel (the unbiased standard deviation needs N ≥ 2).
    /// </exception>
    public override Tensor forward(IReadOnlyList<Tensor> studentFeatures, IReadOnlyList<Tensor> teacherFeatures)
    {
        Guard.NotDisposed(disposed, nameof(PkdLoss));
        Validate(studentFeatures, teacherFeatures);

        using var scope = torch.NewDisposeScope();
        var computeType = studentFeatures.Concat(teacherFeatures).Any(tensor => tensor.dtype == ScalarType.Float64)
            ? ScalarType.Float64
            : ScalarType.Float32;
        var sum = torch.zeros(Array.Empty<long>(), computeType, studentFeatures[0].device);
        for (var level = 0; level < studentFeatures.Count; level++)
        {
            var student = studentFeatures[level].to_type(computeType);
            var teacher = teacherFeatures[level].detach().to_type(computeType);
            if (!SameSize(student, teacher))
            {
                if (Options.ResizeStudent)
                {
                    student = Resize(student, teacher);
                }
                else
                {
                    teacher = Resize(teacher, student);
                }
            }

            var squaredDistance = (Normalize(student) - Normalize(teacher)).pow(Scalars.Two);
            sum = sum.add(squaredDistance.mean(), Scalars.One);
        }

        using var scale = (0.5 * Options.LossWeight).ToScalar();
        return (sum * scale).MoveToOuterDisposeScope();
    }

    /// <summary>(x − μ) / (σ + ε) per channel (per image and channel with <see cref="PkdLossOptions.NormalizePerSample"/>).</summary>
    private Tensor Normalize(Tensor features)
    {
        long[] dimensions = Options.NormalizePerSample ? [2, 3] : [0, 2, 3];
        var (deviation, mean) = features.std_mean(dimensions, unbiased: true, keepdim: true);
        using var epsilon = PkdLossOptions.Epsilon.ToScalar();
        return (features - mean) / deviation.add(epsilon, Scalars.One);
    }

    private static bool SameSize(Tensor a, Tensor b) => a.shape[2] == b.shape[2] && a.shape[3] == b.shape[3];

    /// <summary>Bilinear resize (align_corners = false) of <paramref name="features"/> to the height and width of <paramref name="target"/>.</summary>
    private static Tensor Resize(Tensor features, Tensor target)
        => nn.functional.interpolate(
            features, size: [target.shape[2], target.shape[3]], mode: InterpolationMode.Bilinear, align_corners: false);

    private void Validate(IReadOnlyList<Tensor> studentFeatures, IReadOnlyList<Tensor> teacherFeatures)
    {
        Guard.NotNull(studentFeatures, nameof(studentFeatures));
        Guard.NotNull(teacherFeatures, nameof(teacherFeatures));
        Guard.NotEmpty(studentFeatures, nameof(studentFeatures));
        Guard.Count(teacherFeatures.Count, studentFeatures.Count, nameof(teacherFeatures), "feature maps");

        var device = Guard.NotNull(studentFeatures[0], $"{nameof(studentFeatures)}[0]").device;
        for (var level = 0; level < studentFeatures.Count; level++)
        {
            var studentName = $"{nameof(studentFeatures)}[{level}]";
            var teacherName = $"{nameof(teacherFeatures)}[{level}]";
            var student = Guard.NotNull(studentFeatures[level], studentName);
            var teacher = Guard.NotNull(teacherFeatures[level], teacherName);

            Guard.Rank(student, 4, studentName, "[B, C, H, W]");
            Guard.FloatingPoint(student, studentName);
            Guard.SameDevice(student, device, studentName);
            Guard.Rank(teacher, 4, teacherName, "[B, C, H, W]");
            Guard.FloatingPoint(teacher, teacherName);
            Guard.SameDevice(teacher, device, teacherName);
            if (teacher.shape[0] != student.shape[0] || teacher.shape[1] != student.shape[1])
            {
                throw new ArgumentException(
                    $"{teacherName} must have batch size {student.shape[0]} and {student.shape[1]} channels (those of "
                    + $"{studentName}, shape {Guard.Shape(student)}); got shape {Guard.Shape(teacher)}. PKD has no adaptation "
                    + "layer: map the student's channels to the teacher's first (e.g. with FeatureAdapters).",
                    teacherName);
            }

            // The size both maps are compared at is the teacher's when the student is resized, else the student's.
            var (compared, comparedName) = Options.ResizeStudent ? (teacher, teacherName) : (student, studentName);
            var perChannel = (Options.NormalizePerSample ? 1 : compared.shape[0]) * compared.shape[2] * compared.shape[3];
            if (perChannel < 2)
            {
                throw new ArgumentException(
                    $"{comparedName} gives {(Options.NormalizePerSample ? "H·W" : "B·H·W")} = {perChannel} value(s) per "
                    + $"normalised channel at the compared size (shape {Guard.Shape(compared)}); the unbiased standard "
                    + "deviation needs at least 2.",
                    comparedName);
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
