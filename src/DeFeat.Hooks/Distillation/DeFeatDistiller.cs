using DeFeat.Hooks.Interception;
using DeFeat.Hooks.Proposals;
using DeFeat.Hooks.Recording;
using DeFeat.Hooks.Schedules;
using DeFeat.Hooks.Teacher;
using DeFeat.Losses;
using DeFeat.Losses.Adaptation;
using DeFeat.Losses.Features;
using DeFeat.Losses.Masks;
using DeFeat.Losses.Proposals;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Distillation;

/// <summary>
/// DeFeat for any TorchSharp teacher/student detector pair, one training step at a time: it freezes the teacher, taps
/// both necks (and optionally relays proposals between the RoI heads), and after the two forwards turns the recorded
/// outputs into the named DeFeat losses.
/// </summary>
/// <remarks>
/// <para>
/// Per step: run the teacher through <see cref="Teacher"/> (<c>distiller.Teacher.Run(() =&gt; teacher.call(x))</c>) and
/// the student as usual — with teacher-sampled proposals the teacher first, with student-sampled proposals the student
/// first — then call the distiller with the GT boxes and the image size. It builds the object masks at the recorded
/// feature sizes (<see cref="DeFeatDistillerOptions.MaskBuilder"/>, strides = image height / feature height unless
/// given), applies <see cref="DecoupledFeatureLoss"/> to the necks and <see cref="DecoupledProposalKdLoss"/> to the
/// heads' classification logits with the sampler's labels, multiplies everything by the schedule's weight at
/// <see cref="Step"/>, advances <see cref="Step"/> and forgets the recorded tensors.
/// </para>
/// <para>
/// The distiller owns the adaptation layers: they (and only they) are its <c>parameters()</c>; give them to the
/// student's optimiser and move the distiller with <c>to(...)</c> along with the student. Disposing the distiller
/// detaches every tap (removes the hooks, restores every slot that held a substitute); the teacher stays frozen.
/// </para>
/// <para>
/// Memory: the taps hold their own aliases of the recorded outputs (valid even when a model's forward opens and
/// closes its own dispose scope) and free them when the distiller's call ends; the distiller keeps no tensor past its
/// call, and its intermediates (masks, per-level terms) are disposed inside it. With the documented loop
/// (<c>using var scope = torch.NewDisposeScope();</c> per step) the live tensor count stays flat.
/// </para>
/// </remarks>
public sealed class DeFeatDistiller : nn.Module<IReadOnlyList<Tensor>, ImageSize, DistillationLosses>
{
    private readonly DecoupledFeatureLoss featureLoss;
    private readonly DecoupledProposalKdLoss proposalLoss;
    private readonly List<IDisposable> attachments = [];
    private readonly FeatureTap teacherNeck;
    private readonly FeatureTap studentNeck;
    private readonly FeatureTap? teacherHead;
    private readonly FeatureTap? studentHead;
    private readonly ProposalRelay? relay;
    private readonly ObjectMaskBuilder maskBuilder;
    private readonly KdWeightSchedule schedule;
    private readonly int logitsOutput;
    private bool disposed;

    /// <summary>Attaches the taps (and the proposal relay) described by <paramref name="options"/> and freezes the teacher.</summary>
    /// <param name="teacher">The teacher detector; it is frozen (eval, no gradients) once everything else has succeeded.</param>
    /// <param name="student">The student detector; its mode and parameters are not touched.</param>
    /// <param name="options">Paths, adaptation channels, loss weights, mask rule, strides, schedule, RoI heads.</param>
    /// <exception cref="ArgumentNullException">An argument or a required option is null.</exception>
    /// <exception cref="ArgumentException">
    /// The teacher and the student are the same module; a path names no submodule (the message names the option, the
    /// model and the nearest valid paths); a submodule cannot be tapped (the message says what to change); only one of
    /// the channel lists is given; or a value is out of range. A constructor that throws leaves both models exactly
    /// as they were (nothing attached, the teacher not frozen).
    /// </exception>
    public DeFeatDistiller(nn.Module teacher, nn.Module student, DeFeatDistillerOptions options)
        : base(nameof(DeFeatDistiller))
    {
        Guard.NotNull(teacher, nameof(teacher));
        Guard.NotNull(student, nameof(student));
        Options = Guard.NotNull(options, nameof(options));
        if (ReferenceEquals(teacher, student))
        {
            throw new ArgumentException(
                $"{nameof(teacher)} and {nameof(student)} are the same {TypeNames.Of(teacher.GetType())} instance; the teacher is frozen, so "
                + "the student would never train. Pass two models (e.g. load the teacher's weights into a second instance).",
                nameof(student));
        }

        if ((options.StudentChannels is null) != (options.TeacherChannels is null))
        {
            throw new ArgumentException(
                $"{nameof(options)}.{nameof(options.StudentChannels)} and {nameof(options.TeacherChannels)} must both be given (adaptation layers) or both be null.",
                nameof(options));
        }

        if (options.RoiHeads is { } roiHeads)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(roiHeads.LogitsOutput, $"{nameof(options)}.{nameof(options.RoiHeads)}.{nameof(roiHeads.LogitsOutput)}");
            Guard.NotNull(roiHeads.Adapter, $"{nameof(options)}.{nameof(options.RoiHeads)}.{nameof(roiHeads.Adapter)}");
            logitsOutput = roiHeads.LogitsOutput;
        }

        maskBuilder = options.MaskBuilder ?? new DeFeatMaskBuilder();
        schedule = options.Schedule ?? new ConstantSchedule();
        var adapters = options.StudentChannels is null ? null : new FeatureAdapters(options.StudentChannels, options.TeacherChannels!);
        featureLoss = new DecoupledFeatureLoss(options.FeatureLoss, adapters);
        proposalLoss = new DecoupledProposalKdLoss(options.ProposalLoss);
        try
        {
            teacherNeck = Attach(new FeatureTap(teacher, options.TeacherNeckPath, options.TeacherTapMode, null, Site(nameof(options.TeacherNeckPath), "teacher")));
            studentNeck = Attach(new FeatureTap(student, options.StudentNeckPath, options.StudentTapMode, null, Site(nameof(options.StudentNeckPath), "student")));
            if (options.RoiHeads is { } heads)
            {
                var teacherSite = Site($"{nameof(options.RoiHeads)}.{nameof(heads.TeacherHeadPath)}", "teacher");
                var studentSite = Site($"{nameof(options.RoiHeads)}.{nameof(heads.StudentHeadPath)}", "student");
                teacherHead = Attach(new FeatureTap(teacher, heads.TeacherHeadPath, options.TeacherTapMode, heads.OutputSelector, teacherSite));
                studentHead = Attach(new FeatureTap(student, heads.StudentHeadPath, options.StudentTapMode, heads.OutputSelector, studentSite));
                var teacherEnd = new RoiHeadEndpoint(teacher, heads.TeacherHeadPath, heads.Adapter, options.TeacherTapMode);
                var studentEnd = new RoiHeadEndpoint(student, heads.StudentHeadPath, heads.StudentAdapter ?? heads.Adapter, options.StudentTapMode);
                relay = Attach(heads.Sampling == ProposalSampling.Teacher
                    ? new ProposalRelay(teacherEnd, studentEnd, teacherSite, studentSite)
                    : new ProposalRelay(studentEnd, teacherEnd, studentSite, teacherSite));
            }

            Teacher = new FrozenTeacher(teacher);
        }
        catch
        {
            DisposeAttachments();
            featureLoss.Dispose();
            proposalLoss.Dispose();
            throw;
        }

        RegisterComponents();
    }

    /// <summary>The options the distiller was built with.</summary>
    public DeFeatDistillerOptions Options { get; }

    /// <summary>The frozen teacher: run its forward through <see cref="FrozenTeacher.Run{TResult}"/> each step.</summary>
    public FrozenTeacher Teacher { get; }

    /// <summary>The adaptation layers (registered under this module, trained with the student), or null without adaptation.</summary>
    public FeatureAdapters? Adapters => featureLoss.Adapters;

    /// <summary>
    /// The step the schedule is evaluated at, starting at 0 and advanced by one per call; set it to resume training
    /// or to count epochs instead of iterations.
    /// </summary>
    public long Step { get; set; }

    /// <summary>Computes the DeFeat losses of the current step from what the taps recorded in the two forwards.</summary>
    /// <param name="gtBoxes">One [N_i, 4] (x1, y1, x2, y2) floating-point tensor of GT boxes per image, in input pixels.</param>
    /// <param name="imageSize">The input batch's (padded) size in pixels; used to derive the strides when none are given.</param>
    /// <returns>The weighted named losses of this step.</returns>
    /// <exception cref="InvalidOperationException">
    /// A tap recorded nothing (a model did not run, or its parent calls the tapped submodule with <c>forward(...)</c>:
    /// use <see cref="TapMode.Wrapper"/>), or the proposals were not relayed.
    /// </exception>
    /// <exception cref="ArgumentException">
    /// Inconsistent shapes (level counts, sizes, channels), boxes, image size or strides; the message names them.
    /// </exception>
    public override DistillationLosses forward(IReadOnlyList<Tensor> gtBoxes, ImageSize imageSize)
    {
        Guard.NotDisposed(disposed, nameof(DeFeatDistiller));
        try
        {
            return Compute(gtBoxes, imageSize);
        }
        finally
        {
            teacherNeck.Clear();
            studentNeck.Clear();
            teacherHead?.Clear();
            studentHead?.Clear();
            relay?.Clear();
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            disposed = true;
            DisposeAttachments();
            featureLoss.Dispose();
            proposalLoss.Dispose();
        }

        base.Dispose(disposing);
    }

    private DistillationLosses Compute(IReadOnlyList<Tensor> gtBoxes, ImageSize imageSize)
    {
        Guard.Positive(imageSize.Height, $"{nameof(imageSize)}.{nameof(ImageSize.Height)}");
        Guard.Positive(imageSize.Width, $"{nameof(imageSize)}.{nameof(ImageSize.Width)}");
        Guard.NotNull(gtBoxes, nameof(gtBoxes));
        var teacherFeatures = NeckOutput(teacherNeck, $"options.{nameof(Options.TeacherNeckPath)}", "teacher");
        var studentFeatures = NeckOutput(studentNeck, $"options.{nameof(Options.StudentNeckPath)}", "student");
        if (studentFeatures.Count != teacherFeatures.Count)
        {
            throw new ArgumentException(
                $"The teacher's neck (options.{nameof(Options.TeacherNeckPath)} '{teacherNeck.Path}') returned {teacherFeatures.Count} level(s) and "
                + $"the student's (options.{nameof(Options.StudentNeckPath)} '{studentNeck.Path}') {studentFeatures.Count}; both must return the same levels.",
                nameof(Options));
        }

        var batch = teacherFeatures[0].shape[0];
        if (gtBoxes.Count != batch)
        {
            throw new ArgumentException(
                $"{nameof(gtBoxes)} must hold one [N_i, 4] tensor per image of the batch the necks saw ({batch} images); got {gtBoxes.Count}.",
                nameof(gtBoxes));
        }

        var sizes = teacherFeatures.Select(feature => new FeatureMapSize((int)feature.shape[^2], (int)feature.shape[^1])).ToArray();
        var strides = Options.Strides ?? sizes.Select(size => (double)imageSize.Height / size.Height).ToArray();
        ImageSizeCheck.ThrowIfInconsistent(imageSize, sizes, Options.Strides);
        var weight = schedule.WeightAt(Step);

        using var scope = torch.NewDisposeScope();
        using var scheduleWeight = weight.ToScalar();
        var masks = maskBuilder.Build(gtBoxes, sizes, strides)
            .Select((mask, level) => mask.to(teacherFeatures[level].device))
            .ToArray();
        var neck = featureLoss.call(studentFeatures, teacherFeatures, masks);
        var neckObject = neck.Object * scheduleWeight;
        var neckBackground = neck.Background * scheduleWeight;
        var total = neckObject.add(neckBackground, HookScalars.One);
        Tensor? proposalObject = null;
        Tensor? proposalBackground = null;
        (Tensor Teacher, Tensor Student)? logits = null;
        if (relay is not null)
        {
            var proposals = relay.Proposals;
            if (!relay.Delivered)
            {
                throw new InvalidOperationException(
                    $"The proposals of '{relay.SourceEndpoint.HeadPath}' never reached '{relay.TargetEndpoint.HeadPath}' this step: run "
                    + "the model that samples the proposals first, then the other one, before calling the distiller.");
            }

            logits = (Logits(teacherHead!), Logits(studentHead!));
            var proposal = proposalLoss.call(logits.Value.Student, logits.Value.Teacher, proposals.Labels);
            proposalObject = (proposal.Object * scheduleWeight).MoveToOuterDisposeScope();
            proposalBackground = (proposal.Background * scheduleWeight).MoveToOuterDisposeScope();
            total = total.add(proposalObject, HookScalars.One).add(proposalBackground, HookScalars.One);
        }

        var result = new DistillationLosses(
            neckObject.MoveToOuterDisposeScope(),
            neckBackground.MoveToOuterDisposeScope(),
            proposalObject,
            proposalBackground,
            total.MoveToOuterDisposeScope(),
            weight);
        if (Options.CheckFinite)
        {
            NonFiniteDiagnosis.ThrowIfNotFinite(result, teacherFeatures, studentFeatures, masks, featureLoss.Adapters, logits, Options);
        }

        Step++;
        return result;
    }

    /// <summary>A neck's recorded maps, checked to be [B, C, H, W] with the path and the model in the message.</summary>
    private static IReadOnlyList<Tensor> NeckOutput(FeatureTap tap, string option, string model)
    {
        var features = tap.Features;
        for (var level = 0; level < features.Count; level++)
        {
            if (Guard.Alive(features[level], $"{option} '{tap.Path}' ({model}) output {level}").dim() != 4)
            {
                throw new ArgumentException(
                    $"{option} '{tap.Path}' ({model}) returned {features.Count} tensor(s) and tensor {level} has shape "
                    + $"{Guard.Shape(features[level])}; a neck must return one [B, C, H, W] map per level. Is '{tap.Path}' the neck?",
                    option);
            }
        }

        return features.Count > 0
            ? features
            : throw new ArgumentException($"{option} '{tap.Path}' ({model}) returned no tensor; a neck must return one [B, C, H, W] map per level.", option);
    }

    private Tensor Logits(FeatureTap head)
    {
        var outputs = head.Features;
        return logitsOutput < outputs.Count
            ? outputs[logitsOutput]
            : throw new ArgumentException(
                $"{nameof(RoiHeadDistillationOptions.LogitsOutput)} is {logitsOutput}, but the RoI head at '{head.Path}' returned "
                + $"{outputs.Count} tensor(s).",
                nameof(RoiHeadDistillationOptions.LogitsOutput));
    }

    private static TapSite Site(string option, string model) => new($"options.{option}", model);

    private T Attach<T>(T attachment)
        where T : IDisposable
    {
        attachments.Add(attachment);
        return attachment;
    }

    private void DisposeAttachments()
    {
        foreach (var attachment in attachments)
        {
            attachment.Dispose();
        }

        attachments.Clear();
    }
}
