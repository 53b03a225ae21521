using DeFeat.Losses.Adaptation;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Features;

/// <summary>
/// DeFeat's decoupled neck-feature imitation loss (Guo et al., CVPR 2021): the student imitates the teacher's FPN
/// features separately inside the object regions and in the background, each part normalised by its own area.
/// </summary>
/// <remarks>
/// <para>
/// For levels l = 1..L, with S'_l = A_l(S_l) (the optional adaptation layer of that level, else S'_l = S_l),
/// teacher features T_l, object mask M_l and C_l the teacher channels of the level:
/// </para>
/// <code>
/// L_obj = (1/L) Σ_l Σ_{b,c,h,w} M_l·(S'_l − T_l)²     / max(1, 2·C_l·Σ_{b,h,w} M_l)
/// L_bg  = (1/L) Σ_l Σ_{b,c,h,w} (1−M_l)·(S'_l − T_l)² / max(1, 2·C_l·Σ_{b,h,w} (1−M_l))
/// Object = λ_obj·L_obj,  Background = λ_bg·L_bg,  Total = Object + Background
/// </code>
/// <para>
/// Each level is normalised over the whole batch, then the levels are averaged; a level without any object still
/// counts in 1/L (its object part is 0). Images without ground truth (all-zero masks) are valid: the object part is
/// 0 — with a (zero) gradient path and no NaN — and the background part covers the whole map. Weights come from
/// <see cref="DecoupledFeatureLossOptions"/>: λ_obj = 4, λ_bg = 16 by default (the authors' COCO setting); the
/// official VOC config uses λ_obj = 3, λ_bg = 12 (<see cref="DecoupledFeatureLossOptions.Voc"/>).
/// </para>
/// <para>
/// The teacher features are detached inside the loss, so no gradient reaches the teacher. Gradients flow to the
/// student features and to the adaptation layers; those layers are parameters of this module, so pass
/// <c>loss.parameters()</c> (or <c>adapters.parameters()</c>) to the student's optimiser.
/// </para>
/// <para>
/// Precision: the loss is computed and returned in float32 for float16, bfloat16 and float32 features (inputs are
/// cast to float32 before the difference is taken, so half-precision features give the float32 result), and in
/// float64 when any compared feature map is float64: a teacher level, or a student level as it reaches the comparison
/// (with adapters that is the adapters' output, in the adapters' dtype: float64 student features through float32
/// adapters give a float32 loss; make the adapters float64 with <c>to(ScalarType.Float64)</c> for a float64 loss,
/// e.g. for gradient checks). Masks are cast to that dtype too.
/// </para>
/// <para>
/// Masks are expected to hold values in [0, 1] (0/1 or soft weights); this is not checked, as that would need a
/// host synchronisation. The loss itself never synchronises with the device.
/// </para>
/// </remarks>
public sealed class DecoupledFeatureLoss : nn.Module<IReadOnlyList<Tensor>, IReadOnlyList<Tensor>, IReadOnlyList<Tensor>, DecoupledLoss>
{
    private bool disposed;

    private readonly FeatureAdapters? adapters;

    /// <summary>Creates the loss.</summary>
    /// <param name="options">λ_obj and λ_bg; null = <see cref="DecoupledFeatureLossOptions.Coco"/> (4 / 16).</param>
    /// <param name="adapters">
    /// Per-level adaptation layers applied to the student features before the comparison, or null when the student
    /// and teacher features already have the same channel counts. They become submodules of this loss: they move with
    /// <c>to(...)</c>, appear in <c>parameters()</c> / <c>state_dict()</c>, and are disposed with it.
    /// </param>
    public DecoupledFeatureLoss(DecoupledFeatureLossOptions? options = null, FeatureAdapters? adapters = null)
        : base(nameof(DecoupledFeatureLoss))
    {
        Options = options ?? DecoupledFeatureLossOptions.Coco;
        this.adapters = adapters;
        RegisterComponents();
    }

    /// <summary>The weights λ_obj and λ_bg.</summary>
    public DecoupledFeatureLossOptions Options { get; }

    /// <summary>
    /// The per-level adaptation layers, or null when the student is compared as is. They are registered as the
    /// submodule "adapters" (parameter names "adapters.levels.{l}.conv.weight" / ".bias").
    /// </summary>
    public FeatureAdapters? Adapters => adapters;

    /// <summary>Computes the decoupled feature loss over all levels.</summary>
    /// <param name="studentFeatures">
    /// S_l [B, C_s,l, H_l, W_l] for l = 1..L, floating point. Without adapters C_s,l must equal C_t,l; with adapters it
    /// must equal the adapter's input channels.
    /// </param>
    /// <param name="teacherFeatures">
    /// T_l [B, C_t,l, H_l, W_l], floating point, same device, batch and spatial size as the student level (detached
    /// here). With adapters C_t,l must equal the adapter's output channels.
    /// </param>
    /// <param name="objectMasks">
    /// M_l [B, H_l, W_l], floating point, values in [0, 1]: 1 inside objects, 0 in the background, or soft weights.
    /// </param>
    /// <returns>
    /// λ_obj·L_obj, λ_bg·L_bg and their sum, and each level's share of the two terms (λ·term_l / L), 0-D tensors on the inputs' device (float32, or float64 when a compared
    /// map is float64: see Precision in the remarks), with a gradient path to the student features and the adapters.
    /// </returns>
    /// <exception cref="ArgumentNullException">A list or a tensor in it is null.</exception>
    /// <exception cref="ArgumentException">
    /// No level; the lists (or the adapters) differ in level count; a tensor has the wrong rank, a non-floating dtype,
    /// another device than <c>studentFeatures[0]</c>, or a batch/spatial/channel size that does not match.
    /// </exception>
    public override DecoupledLoss forward(
        IReadOnlyList<Tensor> studentFeatures,
        IReadOnlyList<Tensor> teacherFeatures,
        IReadOnlyList<Tensor> objectMasks)
    {
        Guard.NotDisposed(disposed, nameof(DecoupledFeatureLoss));
        Validate(studentFeatures, teacherFeatures, objectMasks);

        using var scope = torch.NewDisposeScope();
        var adapted = Adapters is null ? studentFeatures : Adapters.call(studentFeatures);
        var computeType = ComputeType(adapted, teacherFeatures);
        var (objectTerms, backgroundTerms) = LevelTerms(adapted, teacherFeatures, objectMasks, computeType);
        using var objectScale = (Options.ObjectWeight / adapted.Count).ToScalar();
        using var backgroundScale = (Options.BackgroundWeight / adapted.Count).ToScalar();
        var objectByLevel = objectTerms * objectScale;
        var backgroundByLevel = backgroundTerms * backgroundScale;
        return new DecoupledLoss(objectByLevel.sum(), backgroundByLevel.sum(), objectByLevel.unbind(), backgroundByLevel.unbind())
            .MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Every level's normalised object and background term, [L] each. Per level only the squared difference summed
    /// over channels, d_l = Σ_c (S'_l − T_l)² flattened to [B·H_l·W_l], is computed (the mask is never repeated over
    /// channels); the d_l and the masks of all levels are then concatenated and the four per-level sums the terms
    /// need (Σ d·M, Σ d·(1−M), Σ M, Σ (1−M)) come out of one product with the [Σ_l B·H_l·W_l, L] level indicator.
    /// So the op count, which bounds the loss's time on a GPU and on small CPU maps, hardly grows with L.
    /// </summary>
    private static (Tensor Object, Tensor Background) LevelTerms(
        IReadOnlyList<Tensor> students, IReadOnlyList<Tensor> teachers, IReadOnlyList<Tensor> masks, ScalarType computeType)
    {
        var levels = students.Count;
        var device = students[0].device;
        var distances = new Tensor[levels];
        var weights = new Tensor[levels];
        var levelIndex = new Tensor[levels];
        for (var level = 0; level < levels; level++)
        {
            var student = students[level].dtype == computeType ? students[level] : students[level].to_type(computeType);
            var teacher = teachers[level].detach();
            teacher = teacher.dtype == computeType ? teacher : teacher.to_type(computeType);
            var mask = masks[level].dtype == computeType ? masks[level] : masks[level].to_type(computeType);
            distances[level] = (student - teacher).pow(Scalars.Two).sum(1).flatten();
            weights[level] = mask.flatten();
            using var levelScalar = level.ToScalar();
            levelIndex[level] = torch.full(distances[level].shape, levelScalar, ScalarType.Int64, device);
        }

        var distance = torch.cat(distances);
        var objectWeights = torch.cat(weights);
        var backgroundWeights = objectWeights.negative().add(Scalars.OneDouble, Scalars.One);
        var indicator = nn.functional.one_hot(torch.cat(levelIndex), levels).to_type(computeType);
        var sums = torch.stack([distance * objectWeights, distance * backgroundWeights, objectWeights, backgroundWeights]).matmul(indicator);
        var numerators = sums.narrow(0, 0, 2);
        var areas = sums.narrow(0, 2, 2) * ChannelNormaliser(teachers, computeType, device);
        var terms = numerators / areas.clamp_min(Scalars.OneDouble);
        return (terms[0], terms[1]);
    }

    /// <summary>2·C_l, the per-level channel normaliser: a scalar tensor when all levels have C channels, else [L].</summary>
    private static Tensor ChannelNormaliser(IReadOnlyList<Tensor> teachers, ScalarType computeType, Device device)
    {
        var channels = teachers.Select(teacher => teacher.shape[1]).ToArray();
        if (channels.All(count => count == channels[0]))
        {
            using var uniform = (2.0 * channels[0]).ToScalar();
            return torch.full(Array.Empty<long>(), uniform, computeType, device);
        }

        return torch.cat(channels.Select(count =>
        {
            using var normaliser = (2.0 * count).ToScalar();
            return torch.full([1], normaliser, computeType, device);
        }).ToArray());
    }

    /// <summary>float64 when any (adapted) student or teacher level is float64, else float32.</summary>
    private static ScalarType ComputeType(IReadOnlyList<Tensor> studentFeatures, IReadOnlyList<Tensor> teacherFeatures)
        => studentFeatures.Concat(teacherFeatures).Any(tensor => tensor.dtype == ScalarType.Float64)
            ? ScalarType.Float64
            : ScalarType.Float32;

    private void Validate(
        IReadOnlyList<Tensor> studentFeatures,
        IReadOnlyList<Tensor> teacherFeatures,
        IReadOnlyList<Tensor> objectMasks)
    {
        Guard.NotNull(studentFeatures, nameof(studentFeatures));
        Guard.NotNull(teacherFeatures, nameof(teacherFeatures));
        Guard.NotNull(objectMasks, nameof(objectMasks));
        Guard.NotEmpty(studentFeatures, nameof(studentFeatures));
        Guard.Count(teacherFeatures.Count, studentFeatures.Count, nameof(teacherFeatures), "feature maps");
        Guard.Count(objectMasks.Count, studentFeatures.Count, nameof(objectMasks), "masks");
        Adapters?.Validate(studentFeatures, nameof(studentFeatures));

        var device = Guard.NotNull(studentFeatures[0], $"{nameof(studentFeatures)}[0]").device;
        for (var level = 0; level < studentFeatures.Count; level++)
        {
            var studentName = $"{nameof(studentFeatures)}[{level}]";
            var teacherName = $"{nameof(teacherFeatures)}[{level}]";
            var maskName = $"{nameof(objectMasks)}[{level}]";
            var student = Guard.NotNull(studentFeatures[level], studentName);
            var teacher = Guard.NotNull(teacherFeatures[level], teacherName);
            var mask = Guard.NotNull(objectMasks[level], maskName);

            Guard.Rank(student, 4, studentName, "[B, C_s, H, W]");
            Guard.FloatingPoint(student, studentName);
            Guard.SameDevice(student, device, studentName);
            Guard.Rank(teacher, 4, teacherName, "[B, C_t, H, W]");
            Guard.FloatingPoint(teacher, teacherName);
            Guard.SameDevice(teacher, device, teacherName);
            Guard.Rank(mask, 3, maskName, "[B, H, W]");
            Guard.FloatingPoint(mask, maskName);
            Guard.SameDevice(mask, device, maskName);

            var (batch, height, width) = (student.shape[0], student.shape[2], student.shape[3]);
            var teacherChannels = Adapters is null ? student.shape[1] : Adapters.TeacherChannels[level];
            var expectedTeacher = new[] { batch, teacherChannels, height, width };
            if (!teacher.shape.SequenceEqual(expectedTeacher))
            {
                var source = Adapters is null ? "the student level's channels" : "the adapter's output channels";
                throw new ArgumentException(
                    $"{teacherName} must have shape {Guard.Format(expectedTeacher)} (batch and size of {studentName}, "
                    + $"{source}); got {Guard.Shape(teacher)}.",
                    teacherName);
            }

            Guard.Shape(mask, [batch, height, width], maskName);
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        disposed = true;
        base.Dispose(disposing);
    }
}
