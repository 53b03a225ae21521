using DeFeat.Hooks.Diagnostics;
using DeFeat.Hooks.Interception;
using DeFeat.Hooks.Recording;
using DeFeat.Hooks.RoiHeads;
using DeFeat.Losses;
using DeFeat.Losses.Proposals;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Terms;

/// <summary>
/// DeFeat's decoupled proposal classification KD for two-stage detectors: relays the sampled proposals from one RoI
/// head to the other (the teacher's by default), taps both heads' classification logits [R, K+1] and applies
/// <see cref="DecoupledProposalKdLoss"/> with the sampler's labels. Losses <c>{Name}_object</c> and <c>{Name}_background</c>.
/// Run the model whose sampler picks the proposals first each step.
/// </summary>
public sealed class ProposalKdTerm : DistillationTerm
{
    private readonly string optionPrefix;
    private readonly DecoupledProposalKdLoss loss;
    private ProposalRelay? relay;
    private (Tensor Teacher, Tensor Student)? logits;

    /// <summary>Creates the term (the distiller attaches it to the models).</summary>
    /// <param name="options">The heads, their arguments, the sampling, the loss options, weight and schedule.</param>
    /// <exception cref="ArgumentNullException">The options or a required option is null.</exception>
    /// <exception cref="ArgumentException">The name, <c>LogitsOutput</c>, <c>Sampling</c> or the weight is invalid.</exception>
    public ProposalKdTerm(ProposalKdTermOptions options)
        : this(options, nameof(ProposalKdTermOptions))
    {
    }

    /// <summary>A recipe's term: messages name the recipe's options (e.g. <c>options.ProposalKd</c>).</summary>
    internal ProposalKdTerm(ProposalKdTermOptions options, string optionPrefix)
        : base(Guard.NotNull(options, nameof(options)), Targets(options, optionPrefix))
    {
        Options = options;
        ArgumentOutOfRangeException.ThrowIfNegative(options.LogitsOutput, $"{optionPrefix}.{nameof(options.LogitsOutput)}");
        Guard.NotNull(options.Arguments, $"{optionPrefix}.{nameof(options.Arguments)}");
        if (!Enum.IsDefined(options.Sampling))
        {
            throw new ArgumentOutOfRangeException(
                $"{optionPrefix}.{nameof(options.Sampling)}", options.Sampling, $"{optionPrefix}.{nameof(options.Sampling)} must be Teacher or Student; got {options.Sampling}.");
        }

        this.optionPrefix = optionPrefix;
        loss = new DecoupledProposalKdLoss(options.Loss);
        register_module("loss", loss);
    }

    /// <summary>The options the term was built with.</summary>
    public ProposalKdTermOptions Options { get; }

    /// <inheritdoc />
    protected override void Compute(TermStep step, TermLosses losses)
    {
        var proposals = relay!.Proposals;
        if (!relay.Delivered)
        {
            throw new InvalidOperationException(
                $"The proposals of '{relay.SourceEndpoint.HeadPath}' never reached '{relay.TargetEndpoint.HeadPath}' this step: run "
                + "the model that samples the proposals first, then the other one, before calling the distiller.");
        }

        logits = (Logits(Taps.Teacher), Logits(Taps.Student));
        var result = loss.call(logits.Value.Student, logits.Value.Teacher, proposals.Labels);
        losses.SetStudentInputs([logits.Value.Student]);
        losses.Add(new LossPart(DecoupledFeatureTermLoss.ObjectPart, result.Object));
        losses.Add(new LossPart(DecoupledFeatureTermLoss.BackgroundPart, result.Background));
    }

    /// <inheritdoc />
    protected override string? DiagnoseNonFinite()
        => logits is not { } pair ? null
            : !AllFinite(pair.Student) ? "the student RoI head's classification logits hold NaN or infinite values"
            : !AllFinite(pair.Teacher) ? "the teacher RoI head's classification logits hold NaN or infinite values"
            : null;

    /// <inheritdoc />
    protected override void OnCleared()
    {
        logits = null;
        relay?.Clear();
    }

    /// <inheritdoc />
    private protected override void OnAttached(TermModels models)
    {
        var teacherSite = new TapSite($"{optionPrefix}.{nameof(Options.TeacherHeadPath)}", "teacher");
        var studentSite = new TapSite($"{optionPrefix}.{nameof(Options.StudentHeadPath)}", "student");
        var teacherEnd = new RoiHeadEndpoint(models.Teacher, Options.TeacherHeadPath, Options.Arguments, models.TeacherTapMode);
        var studentEnd = new RoiHeadEndpoint(models.Student, Options.StudentHeadPath, Options.StudentArguments ?? Options.Arguments, models.StudentTapMode);
        relay = Options.Sampling == ProposalSampling.Teacher
            ? new ProposalRelay(teacherEnd, studentEnd, teacherSite, studentSite)
            : new ProposalRelay(studentEnd, teacherEnd, studentSite, teacherSite);
    }

    /// <inheritdoc />
    private protected override void OnSuspended(bool suspended) => relay!.Suspended = suspended;

    /// <inheritdoc />
    private protected override void OnDetached()
    {
        relay?.Dispose();
        relay = null;
    }

    /// <summary>The heads' paths, their option names for messages, and the output selector.</summary>
    private static TapTargets Targets(ProposalKdTermOptions options, string optionPrefix)
        => new(
            Guard.NotNull(options.TeacherHeadPath, $"{optionPrefix}.{nameof(options.TeacherHeadPath)}"),
            Guard.NotNull(options.StudentHeadPath, $"{optionPrefix}.{nameof(options.StudentHeadPath)}"),
            $"{optionPrefix}.{nameof(options.TeacherHeadPath)}",
            $"{optionPrefix}.{nameof(options.StudentHeadPath)}",
            options.OutputSelector);

    private Tensor Logits(FeatureTap head)
    {
        var outputs = head.Features;
        var index = Options.LogitsOutput;
        return index < outputs.Count
            ? outputs[index]
            : throw new ArgumentException(
                $"{optionPrefix}.{nameof(ProposalKdTermOptions.LogitsOutput)} is {index}, but the RoI head at '{head.Path}' returned "
                + $"{outputs.Count} tensor(s).",
                $"{optionPrefix}.{nameof(ProposalKdTermOptions.LogitsOutput)}");
    }
}
