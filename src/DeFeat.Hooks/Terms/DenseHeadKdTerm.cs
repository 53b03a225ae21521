using System.Runtime.CompilerServices;
using DeFeat.Hooks.Diagnostics;
using DeFeat.Hooks.Interception;
using DeFeat.Hooks.Recording;
using DeFeat.Losses;
using DeFeat.Losses.Dense;
using DeFeat.Losses.Masks;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Terms;

/// <summary>
/// Decoupled KD on a one-stage detector's dense head (RetinaNet, FCOS, YOLO-style): taps both heads' class scores,
/// reads them as the head writes them (<see cref="DenseHeadKdTermOptions.Layout"/>: per-level maps [B, A·K, H_l, W_l],
/// flattened per level [B, H_l·W_l·A, K] or all levels concatenated [B, Σ_l H_l·W_l·A, K];
/// <see cref="DenseHeadKdTermOptions.ScoreKind"/>: logits or probabilities), marks the object locations with the mask
/// rule at the levels' sizes, and applies <see cref="DecoupledDenseKdLoss"/> (object and background locations weighted
/// and normalised separately; sigmoid or softmax heads). Losses <c>{Name}_object</c> and <c>{Name}_background</c>, with
/// per-level shares.
/// </summary>
/// <remarks>
/// <para>
/// Every layout is turned into the loss's [B, A·K, H_l, W_l] maps (row (h·W_l + w)·A + a of a flattened level is
/// anchor a at cell (h, w)), so the loss is the same whatever the head writes; probabilities are turned back into logits
/// (see <see cref="DenseScoreKind.Probabilities"/>). The options are checked when the term is built (the flattened
/// layouts need <see cref="DenseHeadKdTermOptions.Strides"/>); the shapes at the first <c>distiller.call</c>, where an
/// error names the option to fix (<c>options.Layout</c>, <c>options.Strides</c>, <c>options.Loss</c>) and the layout the
/// shapes suggest.
/// </para>
/// <para>
/// A tapped head that runs more than once between two <c>distiller.call</c>s without
/// <see cref="DenseHeadKdTermOptions.RecordEveryCall"/> is an error (only its last call would be distilled): set it for a
/// module called once per level, or run extra forwards inside <c>distiller.Suspend()</c>.
/// </para>
/// </remarks>
public sealed class DenseHeadKdTerm : DistillationTerm
{
    private const string Option = nameof(DenseHeadKdTermOptions);
    private readonly DecoupledDenseKdLoss loss;
    private readonly ObjectMaskBuilder maskBuilder;
    private (IReadOnlyList<Tensor> Teacher, IReadOnlyList<Tensor> Student)? scores;

    /// <summary>Creates the term (the distiller attaches it to the models).</summary>
    /// <param name="options">The heads, the loss options, the mask rule, weight and schedule.</param>
    /// <exception cref="ArgumentNullException">The options or a required option is null.</exception>
    /// <exception cref="ArgumentException">
    /// The name, <c>ScoresItem</c>, the weight, <c>Layout</c>, <c>ScoreKind</c> or a stride is invalid; a flattened
    /// <c>Layout</c> without <c>Strides</c>; <c>Concatenated</c> with <c>RecordEveryCall</c>. The message names the option.
    /// </exception>
    public DenseHeadKdTerm(DenseHeadKdTermOptions options)
        : base(Guard.NotNull(options, nameof(options)), Targets(options))
    {
        Options = options;
        ArgumentOutOfRangeException.ThrowIfNegative(options.ScoresItem, $"{nameof(options)}.{nameof(options.ScoresItem)}");
        Guard.NotNull(options.Loss, $"{nameof(options)}.{nameof(options.Loss)}");
        DenseHeadScores.ValidateOptions(options);
        loss = new DecoupledDenseKdLoss(options.Loss);
        register_module("loss", loss);
        maskBuilder = options.MaskBuilder ?? new DeFeatMaskBuilder();
    }

    /// <summary>The options the term was built with.</summary>
    public DenseHeadKdTermOptions Options { get; }

    /// <inheritdoc />
    protected override void Compute(TermStep step, TermLosses losses)
    {
        var (teacherHead, studentHead) = (Taps.Teacher, Taps.Student);
        ThrowIfCalledMoreThanOnce(teacherHead, "teacher's");
        ThrowIfCalledMoreThanOnce(studentHead, "student's");
        var teacher = teacherHead.Features;
        var student = studentHead.Features;
        ImageSize RequiredImageSize() => step.RequireImageSize(Name, $"the level sizes of {DenseHeadScores.OptionName(nameof(Options.Layout))} {Options.Layout} come from it");
        var (teacherMaps, _) = DenseHeadScores.Read(teacher, Options, RequiredImageSize, $"the teacher's dense head ('{teacherHead.Path}')");
        var (studentMaps, _) = DenseHeadScores.Read(student, Options, RequiredImageSize, $"the student's dense head ('{studentHead.Path}')");
        if (teacherMaps.Length != studentMaps.Length || teacherMaps.Zip(studentMaps).Any(pair => !pair.First.shape.SequenceEqual(pair.Second.shape)))
        {
            throw new ArgumentException(
                $"The student's dense head ('{studentHead.Path}') must give the teacher's ('{teacherHead.Path}') levels and sizes; as "
                + $"[B, A·K, H_l, W_l] maps the teacher's are {string.Join(", ", teacherMaps.Select(Guard.Shape))} and the student's "
                + $"{string.Join(", ", studentMaps.Select(Guard.Shape))} (as recorded: {string.Join(", ", teacher.Select(Guard.Shape))} and "
                + $"{string.Join(", ", student.Select(Guard.Shape))}).",
                DenseHeadScores.OptionName(nameof(Options.StudentHeadPath)));
        }

        var masks = step.ObjectMasks(Name, maskBuilder, teacherMaps, Options.Strides);
        scores = (teacher, student);
        var result = loss.call(studentMaps, teacherMaps, masks);
        losses.SetStudentInputs(student);
        losses.Add(new LossPart(DecoupledFeatureTermLoss.ObjectPart, result.Object, result.ObjectByLevel));
        losses.Add(new LossPart(DecoupledFeatureTermLoss.BackgroundPart, result.Background, result.BackgroundByLevel));
    }

    /// <inheritdoc />
    protected override string? DiagnoseNonFinite()
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
    protected override void OnCleared() => scores = null;

    /// <summary>Without every-call recording a head must run once per step: otherwise only its last call would be distilled.</summary>
    private void ThrowIfCalledMoreThanOnce(FeatureTap head, string whose)
    {
        if (!Options.RecordEveryCall && head.RecordedCalls > 1)
        {
            throw new InvalidOperationException(
                $"{DenseHeadScores.OptionName(nameof(Options.RecordEveryCall))} is false (term '{Name}'), but the {whose} dense head "
                + $"('{head.Path}') ran {head.RecordedCalls} times since the last distiller.call, so only its last call would be "
                + "distilled. If it runs once per level (a module shared by the levels), set RecordEveryCall = true in the term's "
                + $"{nameof(DenseHeadKdTermOptions)} (the calls are then the levels, in call order); if the model ran more than once "
                + "in the step, run the extra forwards inside distiller.Suspend().");
        }
    }

    /// <summary>The heads' paths, their option names for messages, the score selector and the recording mode.</summary>
    private static TapTargets Targets(DenseHeadKdTermOptions options)
    {
        var targets = new TapTargets(
            Guard.NotNull(options.TeacherHeadPath, $"{nameof(options)}.{nameof(options.TeacherHeadPath)}"),
            Guard.NotNull(options.StudentHeadPath, $"{nameof(options)}.{nameof(options.StudentHeadPath)}"),
            $"{Option}.{nameof(options.TeacherHeadPath)}",
            $"{Option}.{nameof(options.StudentHeadPath)}",
            RecordEveryCall: options.RecordEveryCall);
        return targets with { Selector = output => Scores(output, options) };
    }

    /// <summary>The per-level scores of a head's output: the <see cref="DenseHeadKdTermOptions.ScoresItem"/> item of a tuple, else the output's tensors.</summary>
    private static IReadOnlyList<Tensor> Scores(object output, DenseHeadKdTermOptions options)
        => output switch
        {
            Tensor tensor => [tensor],
            IEnumerable<Tensor> tensors => [.. tensors],
            ITuple tuple when options.ScoresItem < tuple.Length && tuple[options.ScoresItem] is Tensor tensor => [tensor],
            ITuple tuple when options.ScoresItem < tuple.Length && tuple[options.ScoresItem] is IEnumerable<Tensor> tensors => [.. tensors],
            _ => throw new InvalidOperationException(
                $"The dense head returns {TypeNames.Of(output.GetType())}; {Option}.{nameof(options.ScoresItem)} ({options.ScoresItem}) must "
                + "name a tuple item that is a tensor or a list of tensors (the per-level class scores), or the head must return them directly."),
        };
}
