using DeFeat.Hooks.Terms;
using DeFeat.Losses;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Distillation;

/// <summary>
/// DeFeat's own recipe (Guo et al., CVPR 2021) on the <see cref="Distiller"/>: decoupled feature imitation at the neck
/// (the term <see cref="NeckTermName"/>: losses <c>neck_object</c>, <c>neck_background</c>) and, for two-stage detectors,
/// decoupled proposal KD on the RoI heads (the term <see cref="ProposalTermName"/>: <c>proposal_object</c>,
/// <c>proposal_background</c>).
/// </summary>
public static class DeFeatRecipe
{
    /// <summary>Name of the recipe's neck term (losses <c>neck_object</c>, <c>neck_background</c>).</summary>
    public const string NeckTermName = "neck";

    /// <summary>Name of the recipe's proposal KD term (losses <c>proposal_object</c>, <c>proposal_background</c>) unless its options name it.</summary>
    public const string ProposalTermName = "proposal";

    /// <summary>The recipe's distiller: <see cref="Terms"/> attached to the two models.</summary>
    /// <param name="teacher">The teacher detector; it is frozen (eval, no gradients) once everything else has succeeded.</param>
    /// <param name="student">The student detector; its mode and parameters are not touched.</param>
    /// <param name="options">Paths, adaptation channels, loss weights, mask rule, strides, schedule, proposal KD.</param>
    /// <param name="distillerOptions">Tap modes and the finiteness check; null = defaults.</param>
    /// <returns>The distiller; dispose it to detach everything.</returns>
    /// <exception cref="ArgumentNullException">An argument or a required option is null.</exception>
    /// <exception cref="ArgumentException">
    /// The teacher and the student are the same module; a path names no submodule (the message names the option, the
    /// model and the nearest valid paths); a submodule cannot be tapped (the message says what to change); only one of
    /// the channel lists is given; or a value is out of range. A call that throws leaves both models exactly as they
    /// were (nothing attached, the teacher not frozen).
    /// </exception>
    public static Distiller Create(nn.Module teacher, nn.Module student, DeFeatRecipeOptions options, DistillerOptions? distillerOptions = null)
        => new(teacher, student, [.. Terms(options)], distillerOptions, nameof(distillerOptions));

    /// <summary>The recipe's terms: the neck's <see cref="FeatureTerm"/> and, with <see cref="DeFeatRecipeOptions.ProposalKd"/>, a <see cref="ProposalKdTerm"/>.</summary>
    /// <param name="options">The recipe's options.</param>
    /// <returns>New terms, for one distiller (which owns and disposes them).</returns>
    /// <exception cref="ArgumentNullException">The options or a required option is null.</exception>
    /// <exception cref="ArgumentException">Only one of the channel lists is given, or a value is out of range (the message names the option).</exception>
    public static IReadOnlyList<DistillationTerm> Terms(DeFeatRecipeOptions options)
    {
        Guard.NotNull(options, nameof(options));
        Guard.NotNull(options.TeacherNeckPath, $"{nameof(options)}.{nameof(options.TeacherNeckPath)}");
        Guard.NotNull(options.StudentNeckPath, $"{nameof(options)}.{nameof(options.StudentNeckPath)}");
        if ((options.StudentChannels is null) != (options.TeacherChannels is null))
        {
            throw new ArgumentException(
                $"{nameof(options)}.{nameof(options.StudentChannels)} and {nameof(options.TeacherChannels)} must both be given (adaptation layers) or both be null.",
                nameof(options));
        }

        Guard.Strides(options.Strides, $"{nameof(options)}.{nameof(options.Strides)}");
        if (options.StudentChannels is { } studentChannels && options.TeacherChannels is { } teacherChannels)
        {
            ValidateChannels(studentChannels, teacherChannels, options.Strides);
        }

        var proposal = options.ProposalKd is { } proposalKd
            ? new ProposalKdTerm(proposalKd with { Schedule = proposalKd.Schedule ?? options.Schedule }, $"{nameof(options)}.{nameof(options.ProposalKd)}")
            : null;
        try
        {
            var neck = new FeatureTerm(
                new FeatureTermOptions
                {
                    Name = NeckTermName,
                    TeacherPath = options.TeacherNeckPath,
                    StudentPath = options.StudentNeckPath,
                    Loss = new DecoupledFeatureTermLoss(options.FeatureLoss),
                    StudentChannels = options.StudentChannels,
                    TeacherChannels = options.TeacherChannels,
                    MaskBuilder = options.MaskBuilder,
                    Strides = options.Strides,
                    Schedule = options.Schedule,
                },
                $"{nameof(options)}.{nameof(options.TeacherNeckPath)}",
                $"{nameof(options)}.{nameof(options.StudentNeckPath)}",
                "neck");
            return proposal is null ? [neck] : [neck, proposal];
        }
        catch
        {
            proposal?.Dispose();
            throw;
        }
    }

    /// <summary>The recipe's channel lists: one count per level each (as many as the strides, if given), each &gt; 0.</summary>
    private static void ValidateChannels(IReadOnlyList<long> studentChannels, IReadOnlyList<long> teacherChannels, IReadOnlyList<double>? strides)
    {
        const string Student = $"options.{nameof(DeFeatRecipeOptions.StudentChannels)}";
        const string Teacher = $"options.{nameof(DeFeatRecipeOptions.TeacherChannels)}";
        Guard.NotEmpty(studentChannels, Student);
        if (teacherChannels.Count != studentChannels.Count || (strides is not null && strides.Count != studentChannels.Count))
        {
            throw new ArgumentException(
                $"{Student} has {studentChannels.Count} level(s), {Teacher} {teacherChannels.Count}"
                + (strides is null ? string.Empty : $" and options.{nameof(DeFeatRecipeOptions.Strides)} {strides.Count}")
                + "; each must have one entry per neck level.",
                "options");
        }

        for (var level = 0; level < studentChannels.Count; level++)
        {
            Guard.Positive(studentChannels[level], $"{Student}[{level}]");
            Guard.Positive(teacherChannels[level], $"{Teacher}[{level}]");
        }
    }
}
