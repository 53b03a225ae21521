using DeFeat.Hooks.Diagnostics;
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
public sealed class RoiHeadKdTerm : DistillationTerm
{
    private readonly string optionPrefix;
    private readonly DecoupledProposalKdLoss loss;
    private FeatureTap? teacherHead;
    private FeatureTap? studentHead;
    private ProposalRelay? relay;
    private (Tensor Teacher, Tensor Student)? logits;

    /// <summary>Creates the term (the distiller attaches it to the models).</summary>
    /// <param name="options">The heads, the loss options, weight and schedule.</param>
    /// <exception cref="ArgumentNullException">The options or a required option is null.</exception>
    /// <exception cref="ArgumentException">The name, <c>LogitsOutput</c>, <c>Sampling</c> or the weight is invalid.</exception>
    public RoiHeadKdTerm(RoiHeadKdTermOptions options)
        : this(options, $"{nameof(RoiHeadKdTermOptions)}.{nameof(RoiHeadKdTermOptions.Heads)}")
    {
    }

    /// <summary>The preset's term: messages name the preset's options (<c>options.RoiHeads</c>).</summary>
    internal RoiHeadKdTerm(RoiHeadKdTermOptions options, string optionPrefix)
        : base(Guard.NotNull(options, nameof(options)).Name, options.Weight, options.Schedule)
    {
        Options = options;
        var heads = Guard.NotNull(options.Heads, $"{optionPrefix}");
        ArgumentOutOfRangeException.ThrowIfNegative(heads.LogitsOutput, $"{optionPrefix}.{nameof(heads.LogitsOutput)}");
        Guard.NotNull(heads.Arguments, $"{optionPrefix}.{nameof(heads.Arguments)}");
        if (!Enum.IsDefined(heads.Sampling))
        {
            throw new ArgumentOutOfRangeException(
                $"{optionPrefix}.{nameof(heads.Sampling)}", heads.Sampling, $"{optionPrefix}.{nameof(heads.Sampling)} must be Teacher or Student; got {heads.Sampling}.");
        }

        this.optionPrefix = optionPrefix;
        loss = new DecoupledProposalKdLoss(options.Loss);
    }

    /// <summary>The options the term was built with.</summary>
    public RoiHeadKdTermOptions Options { get; }

    /// <inheritdoc />
    private protected override void Attach(TermModels models)
    {
        var heads = Options.Heads;
        var teacherSite = new TapSite($"{optionPrefix}.{nameof(heads.TeacherHeadPath)}", "teacher");
        var studentSite = new TapSite($"{optionPrefix}.{nameof(heads.StudentHeadPath)}", "student");
        try
        {
            teacherHead = new FeatureTap(models.Teacher, heads.TeacherHeadPath, models.TeacherTapMode, heads.OutputSelector, teacherSite);
            studentHead = new FeatureTap(models.Student, heads.StudentHeadPath, models.StudentTapMode, heads.OutputSelector, studentSite);
            var teacherEnd = new RoiHeadEndpoint(models.Teacher, heads.TeacherHeadPath, heads.Arguments, models.TeacherTapMode);
            var studentEnd = new RoiHeadEndpoint(models.Student, heads.StudentHeadPath, heads.StudentArguments ?? heads.Arguments, models.StudentTapMode);
            relay = heads.Sampling == ProposalSampling.Teacher
                ? new ProposalRelay(teacherEnd, studentEnd, teacherSite, studentSite)
                : new ProposalRelay(studentEnd, teacherEnd, studentSite, teacherSite);
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
        var proposals = relay!.Proposals;
        if (!relay.Delivered)
        {
            throw new InvalidOperationException(
                $"The proposals of '{relay.SourceEndpoint.HeadPath}' never reached '{relay.TargetEndpoint.HeadPath}' this step: run "
                + "the model that samples the proposals first, then the other one, before calling the distiller.");
        }

        logits = (Logits(teacherHead!), Logits(studentHead!));
        var result = loss.call(logits.Value.Student, logits.Value.Teacher, proposals.Labels);
        losses.SetStudentInputs([logits.Value.Student]);
        losses.Add(DecoupledFeatureTermLoss.ObjectPart, result.Object);
        losses.Add(DecoupledFeatureTermLoss.BackgroundPart, result.Background);
    }

    /// <inheritdoc />
    internal override string? DiagnoseNonFinite()
        => logits is not { } pair ? null
            : !AllFinite(pair.Student) ? "the student RoI head's classification logits hold NaN or infinite values"
            : !AllFinite(pair.Teacher) ? "the teacher RoI head's classification logits hold NaN or infinite values"
            : null;

    /// <inheritdoc />
    internal override void Clear()
    {
        logits = null;
        teacherHead?.Clear();
        studentHead?.Clear();
        relay?.Clear();
    }

    /// <inheritdoc />
    internal override void SetSuspended(bool suspended)
    {
        if (teacherHead is null || studentHead is null || relay is null)
        {
            return;
        }

        teacherHead.Suspended = suspended;
        studentHead.Suspended = suspended;
        relay.Suspended = suspended;
    }

    /// <inheritdoc />
    internal override void Detach()
    {
        logits = null;
        relay?.Dispose();
        teacherHead?.Dispose();
        studentHead?.Dispose();
        (relay, teacherHead, studentHead) = (null, null, null);
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

    private Tensor Logits(FeatureTap head)
    {
        var outputs = head.Features;
        var index = Options.Heads.LogitsOutput;
        return index < outputs.Count
            ? outputs[index]
            : throw new ArgumentException(
                $"{optionPrefix}.{nameof(RoiHeadDistillationOptions.LogitsOutput)} is {index}, but the RoI head at '{head.Path}' returned "
                + $"{outputs.Count} tensor(s).",
                $"{optionPrefix}.{nameof(RoiHeadDistillationOptions.LogitsOutput)}");
    }
}
