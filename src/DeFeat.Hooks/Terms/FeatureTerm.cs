using DeFeat.Hooks.Diagnostics;
using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.Recording;
using DeFeat.Losses;
using DeFeat.Losses.Adaptation;
using DeFeat.Losses.Masks;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Terms;

/// <summary>
/// A feature term: taps a submodule of the teacher and the student (the neck, a backbone, any module returning
/// [B, C, H, W] maps), selects the levels, applies the adaptation layers to the student's maps, builds the object masks
/// at the teacher's sizes with the mask rule (when the loss uses masks), and applies its <see cref="IFeatureTermLoss"/>.
/// Its losses are <c>{Name}_{part}</c>, with per-level shares <c>{Name}_{part}[{level}]</c> in
/// <see cref="DistillationLosses.Levels"/>.
/// </summary>
public sealed class FeatureTerm : DistillationTerm
{
    private readonly string teacherOption;
    private readonly string studentOption;
    private readonly string noun;
    private readonly ObjectMaskBuilder maskBuilder;
    private readonly FeatureAdapters? adapters;
    private FeatureTap? teacherTap;
    private FeatureTap? studentTap;
    private (IReadOnlyList<Tensor> Teacher, IReadOnlyList<Tensor> Student, IReadOnlyList<Tensor>? Masks)? recorded;

    /// <summary>Creates the term (the distiller attaches it to the models).</summary>
    /// <param name="options">Paths, loss, levels, adaptation layers, mask rule, strides, weight and schedule.</param>
    /// <exception cref="ArgumentNullException">The options or a required option is null.</exception>
    /// <exception cref="ArgumentException">
    /// The name, a level position, a stride (zero, negative, NaN or infinite: the message names its index) or the weight
    /// is invalid, or the levels, strides and adaptation layers given differ in their level counts.
    /// </exception>
    public FeatureTerm(FeatureTermOptions options)
        : this(options, $"{nameof(FeatureTermOptions)}.{nameof(FeatureTermOptions.TeacherPath)}", $"{nameof(FeatureTermOptions)}.{nameof(FeatureTermOptions.StudentPath)}", null)
    {
    }

    /// <summary>The preset's neck term: messages name the preset's options and call the tap "neck".</summary>
    internal FeatureTerm(FeatureTermOptions options, string teacherOption, string studentOption, string? noun)
        : base(Guard.NotNull(options, nameof(options)).Name, options.Weight, options.Schedule)
    {
        Options = options;
        Guard.NotNull(options.TeacherPath, $"{nameof(options)}.{nameof(options.TeacherPath)}");
        Guard.NotNull(options.StudentPath, $"{nameof(options)}.{nameof(options.StudentPath)}");
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
        adapters = options.Adapters;
        if (adapters is not null)
        {
            register_module("adapters", adapters);
        }
    }

    /// <summary>The options the term was built with.</summary>
    public FeatureTermOptions Options { get; }

    /// <summary>The adaptation layers (the term's parameters), or null.</summary>
    public FeatureAdapters? Adapters => adapters;

    /// <inheritdoc />
    private protected override void Attach(TermModels models)
    {
        teacherTap = new FeatureTap(models.Teacher, Options.TeacherPath, models.TeacherTapMode, null, new TapSite(teacherOption, "teacher"));
        try
        {
            studentTap = new FeatureTap(models.Student, Options.StudentPath, models.StudentTapMode, null, new TapSite(studentOption, "student"));
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
        var teacherFeatures = Select(Recorded(teacherTap!, teacherOption, "teacher"), teacherOption, teacherTap!.Path, "teacher");
        var studentFeatures = Select(Recorded(studentTap!, studentOption, "student"), studentOption, studentTap!.Path, "student");
        if (studentFeatures.Count != teacherFeatures.Count)
        {
            throw new ArgumentException(
                $"The teacher's {noun} ({teacherOption} '{teacherTap.Path}') returned {teacherFeatures.Count} level(s) and "
                + $"the student's ({studentOption} '{studentTap.Path}') {studentFeatures.Count}; both must return the same levels.",
                "options");
        }

        IReadOnlyList<Tensor>? masks = null;
        if (Options.Loss.UsesObjectMasks)
        {
            var batch = teacherFeatures[0].shape[0];
            if (step.GtBoxes.Count != batch)
            {
                throw new ArgumentException(
                    $"gtBoxes must hold one [N_i, 4] tensor per image of the batch the {noun}s saw ({batch} images); got {step.GtBoxes.Count}.",
                    "gtBoxes");
            }

            var sizes = teacherFeatures.Select(feature => new FeatureMapSize((int)feature.shape[^2], (int)feature.shape[^1])).ToArray();
            var strides = Options.Strides ?? sizes.Select(size => (double)step.ImageSize.Height / size.Height).ToArray();
            ImageSizeCheck.ThrowIfInconsistent(step.ImageSize, sizes, Options.Strides);
            masks = maskBuilder.Build(step.GtBoxes, sizes, strides)
                .Select((mask, level) => mask.to(teacherFeatures[level].device))
                .ToArray();
        }

        recorded = (teacherFeatures, studentFeatures, masks);
        losses.SetStudentInputs(studentFeatures);
        if (adapters is not null && adapters.LevelCount != studentFeatures.Count)
        {
            throw new ArgumentException(
                $"options.{nameof(Options.Adapters)} has {adapters.LevelCount} level(s), but the student's {noun} ({studentOption} "
                + $"'{studentTap.Path}') returned {studentFeatures.Count} map(s){(Options.Levels is null ? string.Empty : $" selected by options.{nameof(Options.Levels)}")}; "
                + "create the adaptation layers with one channel count per level.",
                "options");
        }

        var adapted = adapters is null ? studentFeatures : adapters.call(studentFeatures);
        var parts = Options.Loss.Compute(adapted, teacherFeatures, masks);
        CheckParts(parts, studentFeatures.Count);
        foreach (var part in parts)
        {
            losses.Add(part.Name, part.Value, part.ByLevel);
        }
    }

    /// <summary>The level positions reported for level i of the selection (the tap's output positions).</summary>
    internal override int LevelPosition(int level) => Options.Levels?[level] ?? level;

    /// <inheritdoc />
    internal override string? DiagnoseNonFinite()
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
            var adapted = adapters is null ? pair.Student[level] : adapters[level].call(pair.Student[level]);
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
    internal override void Clear()
    {
        recorded = null;
        teacherTap?.Clear();
        studentTap?.Clear();
    }

    /// <inheritdoc />
    internal override void SetSuspended(bool suspended)
    {
        if (teacherTap is not null && studentTap is not null)
        {
            teacherTap.Suspended = suspended;
            studentTap.Suspended = suspended;
        }
    }

    /// <inheritdoc />
    internal override void Detach()
    {
        recorded = null;
        teacherTap?.Dispose();
        studentTap?.Dispose();
        teacherTap = null;
        studentTap = null;
    }

    /// <summary>
    /// Levels, strides and adaptation layers given together must agree in their level counts (the tap's own count is
    /// only known at the first step).
    /// </summary>
    private static void CheckLevelCounts(FeatureTermOptions options)
    {
        var counts = new List<(string Option, int Count)>();
        if (options.Levels is { } levels)
        {
            counts.Add(($"{nameof(options)}.{nameof(options.Levels)}", levels.Count));
        }

        if (options.Strides is { } strides)
        {
            counts.Add(($"{nameof(options)}.{nameof(options.Strides)}", strides.Count));
        }

        if (options.Adapters is { } adapters)
        {
            counts.Add(($"{nameof(options)}.{nameof(options.Adapters)}", adapters.LevelCount));
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
