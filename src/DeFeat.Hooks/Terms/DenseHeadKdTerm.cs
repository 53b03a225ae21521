using System.Runtime.CompilerServices;
using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.Interception;
using DeFeat.Hooks.Recording;
using DeFeat.Losses;
using DeFeat.Losses.Dense;
using DeFeat.Losses.Masks;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Terms;

/// <summary>
/// Decoupled KD on a one-stage detector's dense head (RetinaNet, FCOS, YOLO-style): taps both heads' per-level class
/// scores, marks the object locations with the mask rule at the score maps' sizes, and applies
/// <see cref="DecoupledDenseKdLoss"/> (object and background locations weighted and normalised separately; sigmoid or
/// softmax heads). Losses <c>{Name}_object</c> and <c>{Name}_background</c>, with per-level shares.
/// </summary>
public sealed class DenseHeadKdTerm : DistillationTerm
{
    private const string Option = nameof(DenseHeadKdTermOptions);
    private readonly DecoupledDenseKdLoss loss;
    private readonly ObjectMaskBuilder maskBuilder;
    private FeatureTap? teacherHead;
    private FeatureTap? studentHead;
    private (IReadOnlyList<Tensor> Teacher, IReadOnlyList<Tensor> Student)? scores;

    /// <summary>Creates the term (the distiller attaches it to the models).</summary>
    /// <param name="options">The heads, the loss options, the mask rule, weight and schedule.</param>
    /// <exception cref="ArgumentNullException">The options or a required option is null.</exception>
    /// <exception cref="ArgumentException">The name, <c>ScoresItem</c>, a stride or the weight is invalid.</exception>
    public DenseHeadKdTerm(DenseHeadKdTermOptions options)
        : base(Guard.NotNull(options, nameof(options)).Name, options.Weight, options.Schedule)
    {
        Options = options;
        Guard.NotNull(options.TeacherHeadPath, $"{nameof(options)}.{nameof(options.TeacherHeadPath)}");
        Guard.NotNull(options.StudentHeadPath, $"{nameof(options)}.{nameof(options.StudentHeadPath)}");
        ArgumentOutOfRangeException.ThrowIfNegative(options.ScoresItem, $"{nameof(options)}.{nameof(options.ScoresItem)}");
        Guard.Strides(options.Strides, $"{nameof(options)}.{nameof(options.Strides)}");
        loss = new DecoupledDenseKdLoss(Guard.NotNull(options.Loss, $"{nameof(options)}.{nameof(options.Loss)}"));
        maskBuilder = options.MaskBuilder ?? new DeFeatMaskBuilder();
    }

    /// <summary>The options the term was built with.</summary>
    public DenseHeadKdTermOptions Options { get; }

    /// <inheritdoc />
    private protected override void Attach(TermModels models)
    {
        try
        {
            teacherHead = new FeatureTap(
                models.Teacher, Options.TeacherHeadPath, models.TeacherTapMode, Scores, new TapSite($"{Option}.{nameof(Options.TeacherHeadPath)}", "teacher"), Options.RecordEveryCall);
            studentHead = new FeatureTap(
                models.Student, Options.StudentHeadPath, models.StudentTapMode, Scores, new TapSite($"{Option}.{nameof(Options.StudentHeadPath)}", "student"), Options.RecordEveryCall);
        }
        catch
        {
            Detach();
            throw;
        }
    }

    /// <inheritdoc />
    internal override void Compute(TermStep step, TermLosses losses)
    {
        var teacher = teacherHead!.Features;
        var student = studentHead!.Features;
        if (teacher.Count != student.Count || teacher.Any(level => Guard.Alive(level, "teacher scores").dim() != 4))
        {
            throw new ArgumentException(
                $"The dense heads must both return one [B, A·K, H_l, W_l] score map per level; the teacher's ('{teacherHead.Path}') returned "
                + $"{string.Join(", ", teacher.Select(Guard.Shape))} and the student's ('{studentHead.Path}') {string.Join(", ", student.Select(Guard.Shape))}.",
                "options");
        }

        var batch = teacher[0].shape[0];
        if (step.GtBoxes.Count != batch)
        {
            throw new ArgumentException(
                $"gtBoxes must hold one [N_i, 4] tensor per image of the batch the models saw ({batch} images); got {step.GtBoxes.Count}.",
                "gtBoxes");
        }

        var sizes = teacher.Select(level => new FeatureMapSize((int)level.shape[^2], (int)level.shape[^1])).ToArray();
        var strides = Options.Strides ?? sizes.Select(size => (double)step.ImageSize.Height / size.Height).ToArray();
        ImageSizeCheck.ThrowIfInconsistent(step.ImageSize, sizes, Options.Strides);
        var masks = maskBuilder.Build(step.GtBoxes, sizes, strides).Select((mask, level) => mask.to(teacher[level].device)).ToArray();
        scores = (teacher, student);
        var result = loss.call(student, teacher, masks);
        losses.SetStudentInputs(student);
        losses.Add(DecoupledFeatureTermLoss.ObjectPart, result.Object, result.ObjectByLevel);
        losses.Add(DecoupledFeatureTermLoss.BackgroundPart, result.Background, result.BackgroundByLevel);
    }

    /// <inheritdoc />
    internal override string? DiagnoseNonFinite()
    {
        if (scores is not { } pair)
        {
            return null;
        }

        for (var level = 0; level < pair.Teacher.Count; level++)
        {
            if (!AllFinite(pair.Student[level]))
            {
                return $"level {level} of the student dense head's class scores ('{Options.StudentHeadPath}') holds NaN or infinite values";
            }

            if (!AllFinite(pair.Teacher[level]))
            {
                return $"level {level} of the teacher dense head's class scores ('{Options.TeacherHeadPath}') holds NaN or infinite values";
            }
        }

        return null;
    }

    /// <inheritdoc />
    internal override void Clear()
    {
        scores = null;
        teacherHead?.Clear();
        studentHead?.Clear();
    }

    /// <inheritdoc />
    internal override void SetSuspended(bool suspended)
    {
        teacherHead!.Suspended = suspended;
        studentHead!.Suspended = suspended;
    }

    /// <inheritdoc />
    internal override void Detach()
    {
        scores = null;
        teacherHead?.Dispose();
        studentHead?.Dispose();
        (teacherHead, studentHead) = (null, null);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            loss.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <summary>The per-level scores of a head's output: the <see cref="DenseHeadKdTermOptions.ScoresItem"/> item of a tuple, else the output's tensors.</summary>
    private IReadOnlyList<Tensor> Scores(object output)
        => output switch
        {
            Tensor tensor => [tensor],
            IEnumerable<Tensor> tensors => [.. tensors],
            ITuple tuple when Options.ScoresItem < tuple.Length && tuple[Options.ScoresItem] is Tensor tensor => [tensor],
            ITuple tuple when Options.ScoresItem < tuple.Length && tuple[Options.ScoresItem] is IEnumerable<Tensor> tensors => [.. tensors],
            _ => throw new InvalidOperationException(
                $"The dense head returns {TypeNames.Of(output.GetType())}; {Option}.{nameof(Options.ScoresItem)} ({Options.ScoresItem}) must "
                + "name a tuple item that is a tensor or a list of tensors (the per-level class scores), or the head must return them directly."),
        };
}
