using DeFeat.Hooks.Diagnostics;
using DeFeat.Hooks.Interception;
using DeFeat.Hooks.Recording;
using DeFeat.Losses;
using DeFeat.Losses.Adaptation;
using DeFeat.Losses.Masks;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Terms;

/// <summary>
/// A feature term: taps a submodule of the teacher and the student (the neck, a backbone, any module returning
/// [B, C, H, W] maps), selects the levels, applies its adaptation layers to the student's maps, builds the object masks
/// at the teacher's sizes with the mask rule (when the loss uses masks), and applies its <see cref="IFeatureTermLoss"/>.
/// Its losses are <c>{Name}_{part}</c>, with per-level shares <c>{Name}_{part}[{level}]</c>.
/// </summary>
public sealed class FeatureTerm : DistillationTerm
{
    private readonly string teacherOption;
    private readonly string studentOption;
    private readonly string noun;
    private readonly ObjectMaskBuilder maskBuilder;
    private (IReadOnlyList<Tensor> Teacher, IReadOnlyList<Tensor> Student, IReadOnlyList<Tensor>? Masks)? recorded;

    /// <summary>Creates the term (the distiller attaches it to the models).</summary>
    /// <param name="options">Paths, loss, levels, adaptation channels, mask rule, strides, weight and schedule.</param>
    /// <exception cref="ArgumentNullException">The options or a required option is null.</exception>
    /// <exception cref="ArgumentException">
    /// The name, a level position, a stride (zero, negative, NaN or infinite: the message names its index), a channel count
    /// or the weight is invalid; only one of the channel lists is given; or the levels, strides and channel lists given
    /// differ in their level counts.
    /// </exception>
    public FeatureTerm(FeatureTermOptions options)
        : this(options, $"{nameof(FeatureTermOptions)}.{nameof(FeatureTermOptions.TeacherPath)}", $"{nameof(FeatureTermOptions)}.{nameof(FeatureTermOptions.StudentPath)}", null)
    {
    }

    /// <summary>A recipe's term: messages name the recipe's options and call the tap as the recipe does (e.g. "neck").</summary>
    internal FeatureTerm(FeatureTermOptions options, string teacherOption, string studentOption, string? noun)
        : base(Guard.NotNull(options, nameof(options)), new TapTargets(
            Guard.NotNull(options.TeacherPath, $"{nameof(options)}.{nameof(options.TeacherPath)}"),
            Guard.NotNull(options.StudentPath, $"{nameof(options)}.{nameof(options.StudentPath)}"),
            teacherOption,
            studentOption))
    {
        Options = options;
        Guard.NotNull(options.Loss, $"{nameof(options)}.{nameof(options.Loss)}");
        if (options.Levels is { } levels)
        {
            for (var index = 0; index < levels.Count; index++)
            {
                Guard.NonNegative(levels[index], $"{nameof(options)}.{nameof(options.Levels)}[{index}]");
            }

            if (levels.Count == 0 || levels.Distinct().Count() != levels.Count)
            {
                throw new ArgumentException(
                    $"{nameof(options)}.{nameof(options.Levels)} must list at least one output position, each once; got [{string.Join(", ", levels)}].",
                    nameof(options));
            }
        }

        Guard.Strides(options.Strides, $"{nameof(options)}.{nameof(options.Strides)}");
        CheckLevelCounts(options);
        this.teacherOption = teacherOption;
        this.studentOption = studentOption;
        this.noun = noun ?? $"'{options.Name}' tap";
        maskBuilder = options.MaskBuilder ?? new DeFeatMaskBuilder();
        if (options.StudentChannels is { } studentChannels && options.TeacherChannels is { } teacherChannels)
        {
            Adapters = new FeatureAdapters(studentChannels, teacherChannels);
            register_module("adapters", Adapters);
        }
    }

    /// <summary>The options the term was built with.</summary>
    public FeatureTermOptions Options { get; }

    /// <summary>The term's adaptation layers (its parameters, <c>{Name}.adapters.…</c>), or null without channel lists.</summary>
    public FeatureAdapters? Adapters { get; }

    /// <inheritdoc />
    protected override void Compute(TermStep step, TermLosses losses)
    {
        var teacherTap = Taps.Teacher;
        var studentTap = Taps.Student;
        var teacherFeatures = Select(Recorded(teacherTap, teacherOption, "teacher"), teacherOption, teacherTap.Path, "teacher");
        var studentFeatures = Select(Recorded(studentTap, studentOption, "student"), studentOption, studentTap.Path, "student");
        if (studentFeatures.Count != teacherFeatures.Count)
        {
            throw new ArgumentException(
                $"The teacher's {noun} ({teacherOption} '{teacherTap.Path}') returned {teacherFeatures.Count} level(s) and "
                + $"the student's ({studentOption} '{studentTap.Path}') {studentFeatures.Count}; both must return the same levels.",
                "options");
        }

        var masks = Options.Loss.UsesObjectMasks ? step.ObjectMasks(Name, maskBuilder, teacherFeatures, Options.Strides) : null;
        recorded = (teacherFeatures, studentFeatures, masks);
        losses.SetStudentInputs(studentFeatures);
        if (Adapters is not null && Adapters.LevelCount != studentFeatures.Count)
        {
            throw new ArgumentException(
                $"options.{nameof(Options.StudentChannels)} has {Adapters.LevelCount} level(s), but the student's {noun} ({studentOption} "
                + $"'{studentTap.Path}') returned {studentFeatures.Count} map(s){(Options.Levels is null ? string.Empty : $" selected by options.{nameof(Options.Levels)}")}; "
                + "give one channel count per level.",
                "options");
        }

        var adapted = Adapters is null ? studentFeatures : Adapters.call(studentFeatures);
        var parts = Options.Loss.Compute(adapted, teacherFeatures, masks);
        CheckParts(parts, studentFeatures.Count);
        foreach (var part in parts)
        {
            losses.Add(part);
        }
    }

    /// <summary>The level positions reported for level i of the selection (the tap's output positions).</summary>
    internal override int LevelPosition(int level) => Options.Levels?[level] ?? level;

    /// <inheritdoc />
    protected override string? DiagnoseNonFinite()
    {
        if (recorded is not { } pair)
        {
            return null;
        }

        var levels = pair.Teacher.Count;
        for (var level = 0; level < levels; level++)
        {
            var where = $"level {LevelPosition(level)} (of {levels}, finest first)";
            if (!AllFinite(pair.Student[level]))
            {
                return $"{where} of the student's {noun} output ({studentOption} '{Options.StudentPath}') holds NaN or infinite values";
            }

            if (!AllFinite(pair.Teacher[level]))
            {
                return $"{where} of the teacher's {noun} output ({teacherOption} '{Options.TeacherPath}') holds NaN or infinite values";
            }

            if (pair.Masks is { } masks && !AllFinite(masks[level]))
            {
                return $"the object mask of {where} holds NaN or infinite values (check the GT boxes)";
            }

            using var noGrad = no_grad();
            var adapted = Adapters is null ? pair.Student[level] : Adapters[level].call(pair.Student[level]);
            if (!AllFinite(adapted))
            {
                return $"the adaptation layer of {where} outputs NaN or infinite values from finite student features (its weights have diverged)";
            }

            if (adapted.shape.SequenceEqual(pair.Teacher[level].shape))
            {
                var difference = adapted.to_type(ScalarType.Float32) - pair.Teacher[level].to_type(ScalarType.Float32);
                if (!AllFinite((difference * difference).sum()))
                {
                    return $"the squared difference of student and teacher features overflows float32 at {where}";
                }
            }
        }

        return null;
    }

    /// <inheritdoc />
    protected override void OnCleared() => recorded = null;

    /// <summary>
    /// The channel lists come together; levels, strides and channel lists given together must agree in their level
    /// counts (the tap's own count is only known at the first step).
    /// </summary>
    private static void CheckLevelCounts(FeatureTermOptions options)
    {
        if ((options.StudentChannels is null) != (options.TeacherChannels is null))
        {
            throw new ArgumentException(
                $"{nameof(options)}.{nameof(options.StudentChannels)} and {nameof(options.TeacherChannels)} must both be given (adaptation layers) or both be null.",
                nameof(options));
        }

        var counts = new List<(string Option, int Count)>();
        if (options.Levels is { } levels)
        {
            counts.Add(($"{nameof(options)}.{nameof(options.Levels)}", levels.Count));
        }

        if (options.Strides is { } strides)
        {
            counts.Add(($"{nameof(options)}.{nameof(options.Strides)}", strides.Count));
        }

        if (options.StudentChannels is { } studentChannels)
        {
            counts.Add(($"{nameof(options)}.{nameof(options.StudentChannels)}", studentChannels.Count));
            counts.Add(($"{nameof(options)}.{nameof(options.TeacherChannels)}", options.TeacherChannels!.Count));
        }

        if (counts.Select(entry => entry.Count).Distinct().Count() > 1)
        {
            throw new ArgumentException(
                $"{string.Join(", ", counts.Select(entry => $"{entry.Option} has {entry.Count}"))} level(s); each must have one entry per "
                + "selected level.",
                nameof(options));
        }
    }

    /// <summary>What the term's loss returned must be at least one part, each with no level shares or one per level.</summary>
    private void CheckParts(IReadOnlyList<LossPart>? parts, int levels)
    {
        var loss = $"{TypeNames.Of(Options.Loss.GetType())}.{nameof(IFeatureTermLoss.Compute)}";
        if (parts is null || parts.Count == 0)
        {
            throw new InvalidOperationException(
                $"{loss} returned {(parts is null ? "null" : "no part")} for the term '{Name}'; an {nameof(IFeatureTermLoss)} must return at least one {nameof(LossPart)}.");
        }

        for (var index = 0; index < parts.Count; index++)
        {
            var part = parts[index] ?? throw new InvalidOperationException(
                $"{loss} returned {parts.Count} part(s) for the term '{Name}' and part {index} is null; every part must be a {nameof(LossPart)}.");
            if (part.ByLevel.Count != 0 && part.ByLevel.Count != levels)
            {
                throw new InvalidOperationException(
                    $"{loss} returned the part '{part.Name}' of the term '{Name}' with {part.ByLevel.Count} level share(s) for {levels} level(s); "
                    + "give one share per level, or none.");
            }

            Guard.Alive(part.Value, $"{loss}'s part '{part.Name}' (term '{Name}')");
        }
    }

    /// <summary>A tap's recorded maps, checked to be [B, C, H, W] with the path and the model in the message.</summary>
    private IReadOnlyList<Tensor> Recorded(FeatureTap tap, string option, string model)
    {
        var features = tap.Features;
        for (var level = 0; level < features.Count; level++)
        {
            if (Guard.Alive(features[level], $"{option} '{tap.Path}' ({model}) output {level}").dim() != 4)
            {
                throw new ArgumentException(
                    $"{option} '{tap.Path}' ({model}) returned {features.Count} tensor(s) and tensor {level} has shape "
                    + $"{Guard.Shape(features[level])}; a {noun} must return one [B, C, H, W] map per level. Is '{tap.Path}' the {noun}?",
                    option);
            }
        }

        return features.Count > 0
            ? features
            : throw new ArgumentException($"{option} '{tap.Path}' ({model}) returned no tensor; a {noun} must return one [B, C, H, W] map per level.", option);
    }

    private IReadOnlyList<Tensor> Select(IReadOnlyList<Tensor> features, string option, string path, string model)
    {
        if (Options.Levels is not { } levels)
        {
            return features;
        }

        foreach (var position in levels)
        {
            if (position >= features.Count)
            {
                throw new ArgumentException(
                    $"options.{nameof(Options.Levels)} selects output {position}, but {option} '{path}' ({model}) returned {features.Count} map(s).",
                    "options");
            }
        }

        return [.. levels.Select(position => features[position])];
    }
}
