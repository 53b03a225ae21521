using DeFeat.Hooks.Interception;
using DeFeat.Hooks.Recording;
using DeFeat.Hooks.Teacher;
using DeFeat.Hooks.Terms;
using DeFeat.Losses;
using DeFeat.Losses.Adaptation;
using DeFeat.Losses.Features;
using DeFeat.Losses.Proposals;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Distillation;

/// <summary>
/// Distillation for any TorchSharp teacher/student detector pair, one training step at a time, composed of terms
/// (<see cref="DistillationTerm"/>: a tap pair, adaptation layers, a loss, a mask rule, a weight and a schedule). It
/// freezes the teacher, attaches every term's taps, and after the two forwards turns what they recorded into the named
/// losses of <see cref="DistillationLosses"/>. The <see cref="DeFeatDistillerOptions"/> constructor is DeFeat's own
/// recipe (neck, optionally the RoI heads); the terms constructor composes any recipe: the authors' COCO recipe
/// (backbone stages 3–4 + neck + proposal KD), one-stage dense-head KD, PKD or a loss of your own.
/// </summary>
/// <remarks>
/// <para>
/// Per step: run the teacher through <see cref="Teacher"/> (<c>distiller.Teacher.Run(() =&gt; teacher.call(x))</c>) and
/// the student as usual — with teacher-sampled proposals the teacher first, with student-sampled proposals the student
/// first — then call the distiller with the GT boxes and the image size. Each term builds its object masks at the
/// recorded sizes (strides = image height / feature height, cross-checked with the width, unless given), applies its
/// loss, and multiplies it by its weight and its schedule's weight at <see cref="Step"/>; the distiller sums the parts,
/// advances <see cref="Step"/> and forgets the recorded tensors.
/// </para>
/// <para>
/// The distiller owns the adaptation layers: they (and only they) are its <c>parameters()</c>, named
/// <c>{term}.adapters.…</c>; give them to the student's optimiser and move the distiller with <c>to(...)</c> along with
/// the student. <see cref="Step"/> is the buffer <c>step</c> of its <c>state_dict()</c>, so <c>save</c> / <c>load</c>
/// restore the adapters and the step together and training resumes exactly. Disposing the distiller detaches every tap
/// (removes the hooks, restores every slot that held a substitute) and disposes the terms; the teacher stays frozen.
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
    /// <summary>Name of the preset's neck term (losses <c>neck_object</c>, <c>neck_background</c>).</summary>
    public const string NeckTermName = "neck";

    /// <summary>Name of the preset's RoI-head term (losses <c>proposal_object</c>, <c>proposal_background</c>).</summary>
    public const string ProposalTermName = "proposal";

    private const string StepBuffer = "step";
    private readonly DistillationTerm[] terms;
    private readonly Tensor step;

    /// <summary>Suspend() handles not yet disposed: the taps record again when the last one is.</summary>
    private int suspensions;

    /// <summary>The argument a failed load names while load(location) runs through load(reader); null otherwise.</summary>
    private string? loadingFrom;
    private readonly string checkFiniteOption;
    private readonly bool checkFinite;
    private long stepValue;
    private bool disposed;

    /// <summary>DeFeat's recipe: the neck term and, with <see cref="DeFeatDistillerOptions.RoiHeads"/>, the proposal KD term.</summary>
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
        : this(teacher, student, PresetTerms(options), PresetSettings(options), nameof(options))
    {
        Options = options;
    }

    /// <summary>A distiller composed of <paramref name="terms"/>, attached in order.</summary>
    /// <param name="teacher">The teacher detector; it is frozen (eval, no gradients) once everything else has succeeded.</param>
    /// <param name="student">The student detector; its mode and parameters are not touched.</param>
    /// <param name="terms">
    /// The terms (at least one, unique names, each new: a term serves one distiller); the distiller owns and disposes them,
    /// also when this constructor throws (except a term that already serves another distiller, which is left to it).
    /// </param>
    /// <param name="settings">Tap modes and the finiteness check; null = defaults.</param>
    /// <exception cref="ArgumentNullException">An argument or a term is null.</exception>
    /// <exception cref="ArgumentException">
    /// The teacher and the student are the same module; no term; two terms share a name; a term already serves another
    /// distiller; or a term cannot attach (the message names the option and the model). A constructor that throws leaves
    /// both models exactly as they were.
    /// </exception>
    public DeFeatDistiller(nn.Module teacher, nn.Module student, IEnumerable<DistillationTerm> terms, DistillerOptions? settings = null)
        : this(teacher, student, Guard.NotNull(terms, nameof(terms)).ToArray(), settings ?? new DistillerOptions(), nameof(settings))
    {
    }

    // settingsName: the argument the settings came from ("options" or "settings"), for messages.
    private DeFeatDistiller(nn.Module teacher, nn.Module student, DistillationTerm[] terms, DistillerOptions settings, string settingsName)
        : base(nameof(DeFeatDistiller))
    {
        Guard.NotNull(teacher, nameof(teacher));
        Guard.NotNull(student, nameof(student));
        this.terms = terms;
        checkFiniteOption = $"{settingsName}.{nameof(DistillerOptions.CheckFinite)}";
        checkFinite = settings.CheckFinite;
        step = torch.zeros(Array.Empty<long>(), ScalarType.Int64);
        if (ReferenceEquals(teacher, student))
        {
            DisposeOnFailure([]);
            throw new ArgumentException(
                $"{nameof(teacher)} and {nameof(student)} are the same {TypeNames.Of(teacher.GetType())} instance; the teacher is frozen, so "
                + "the student would never train. Pass two models (e.g. load the teacher's weights into a second instance).",
                nameof(student));
        }

        try
        {
            ValidateTerms(terms);
            ValidateTapMode(settings.TeacherTapMode, $"{settingsName}.{nameof(DistillerOptions.TeacherTapMode)}");
            ValidateTapMode(settings.StudentTapMode, $"{settingsName}.{nameof(DistillerOptions.StudentTapMode)}");
        }
        catch
        {
            DisposeOnFailure([]);
            throw;
        }

        var models = new TermModels(teacher, student, settings.TeacherTapMode, settings.StudentTapMode);
        var attached = new List<DistillationTerm>();
        try
        {
            foreach (var term in terms)
            {
                term.AttachTo(models);
                attached.Add(term);
            }

            Teacher = new FrozenTeacher(teacher);
        }
        catch
        {
            DisposeOnFailure(attached);
            throw;
        }

        foreach (var term in terms)
        {
            register_module(term.Name, term);
        }

        register_buffer(StepBuffer, step);
    }

    /// <summary>The preset's options, or null for a distiller built from terms.</summary>
    public DeFeatDistillerOptions? Options { get; }

    /// <summary>The terms, in the order they are computed and their losses listed.</summary>
    public IReadOnlyList<DistillationTerm> Terms => terms;

    /// <summary>The frozen teacher: run its forward through <see cref="FrozenTeacher.Run{TResult}"/> each step.</summary>
    public FrozenTeacher Teacher { get; } = null!;

    /// <summary>The preset's neck adaptation layers (the <c>neck</c> term's), or null without adaptation or without a <c>neck</c> feature term.</summary>
    public FeatureAdapters? Adapters => terms.OfType<FeatureTerm>().FirstOrDefault(term => term.Name == NeckTermName)?.Adapters;

    /// <summary>
    /// The step the schedules are evaluated at, starting at 0 and advanced by one per call; it is the buffer <c>step</c>
    /// of <c>state_dict()</c>, so <c>save</c>/<c>load</c> restore it. Set it to resume from elsewhere or to count epochs
    /// instead of iterations (≥ 0).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public long Step
    {
        get => stepValue;
        set
        {
            if (value < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(Step), value, $"{nameof(Step)} must be ≥ 0; got {value}.");
            }

            stepValue = value;
            using var scalar = value.ToScalar();
            using var noGrad = torch.no_grad();
            step.fill_(scalar);
        }
    }

    /// <summary>Computes the losses of the current step from what the taps recorded in the two forwards.</summary>
    /// <param name="gtBoxes">One [N_i, 4] (x1, y1, x2, y2) floating-point tensor of GT boxes per image, in input pixels.</param>
    /// <param name="imageSize">The input batch's (padded) size in pixels; used to derive the strides when none are given.</param>
    /// <returns>The weighted named losses of this step.</returns>
    /// <exception cref="InvalidOperationException">
    /// A tap recorded nothing (a model did not run, or its parent calls the tapped submodule with <c>forward(...)</c>:
    /// use <see cref="TapMode.Wrapper"/>), or the proposals were not relayed.
    /// </exception>
    /// <exception cref="ObjectDisposedException">The distiller, or one of its terms, was disposed (the message names the term).</exception>
    /// <exception cref="ArgumentException">
    /// Inconsistent shapes (level counts, sizes, channels), boxes, image size or strides; the message names them.
    /// </exception>
    public override DistillationLosses forward(IReadOnlyList<Tensor> gtBoxes, ImageSize imageSize)
    {
        ThrowIfUnusable();
        try
        {
            return Compute(gtBoxes, imageSize);
        }
        finally
        {
            foreach (var term in terms)
            {
                term.Clear();
            }
        }
    }

    /// <summary>
    /// Suspends every tap and proposal relay until the returned handle is disposed: the models then run exactly as
    /// written, nothing is recorded and no proposals are substituted. Use it to evaluate the student (or run either
    /// model) in the middle of training, e.g. <c>using (distiller.Suspend()) { Validate(student); }</c>: without it a
    /// student whose RoI head receives the teacher's proposals would wait for proposals the teacher never sampled.
    /// </summary>
    /// <returns>
    /// A handle that resumes the taps and relays when disposed (nested handles: when the last is disposed); what they
    /// recorded before is forgotten.
    /// </returns>
    /// <exception cref="ObjectDisposedException">The distiller, or one of its terms, was disposed (the message names the term).</exception>
    public IDisposable Suspend()
    {
        ThrowIfUnusable();
        if (suspensions++ == 0)
        {
            foreach (var term in terms)
            {
                term.Clear();
                term.SetSuspended(true);
            }
        }

        return new Resumption(this);
    }

    /// <inheritdoc />
    /// <exception cref="ObjectDisposedException">The distiller, or one of its terms, was disposed (the message names the term).</exception>
    public override Dictionary<string, Tensor> state_dict(Dictionary<string, Tensor>? destination = null, string? prefix = null)
    {
        ThrowIfUnusable();
        return base.state_dict(destination, prefix);
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">
    /// The state does not fit this distiller: with <paramref name="strict"/>, other keys (the message lists them); an
    /// entry that is null, disposed or of another shape (the message names the key, both shapes and, for an adaptation
    /// layer, which channel count differs: the student's or the teacher's); or a negative <c>step</c>. Everything is
    /// checked before anything is copied, so the distiller is left as it was.
    /// </exception>
    /// <exception cref="ObjectDisposedException">The distiller, or one of its terms, was disposed (the message names the term).</exception>
    public override (IList<string>, IList<string>) load_state_dict(Dictionary<string, Tensor> source, bool strict = true, IList<string>? skip = null)
    {
        ThrowIfUnusable();
        Guard.NotNull(source, nameof(source));
        CheckState([.. source.Select(pair => (pair.Key, (Tensor?)pair.Value))], strict, skip, sameDType: false, nameof(source));
        var result = base.load_state_dict(source, strict, skip);
        stepValue = step.item<long>();
        return result;
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">
    /// The stream holds no distiller state that fits this distiller (as for <see cref="load_state_dict"/>, and an entry of
    /// another dtype, or a stream that cannot be read); the whole state is read and checked before anything is copied,
    /// so the distiller is left as it was.
    /// </exception>
    /// <exception cref="ObjectDisposedException">The distiller, or one of its terms, was disposed (the message names the term).</exception>
    public override nn.Module load(BinaryReader reader, bool strict = true, IList<string>? skip = null, Dictionary<string, bool>? loadedParameters = null)
    {
        ThrowIfUnusable();
        Guard.NotNull(reader, nameof(reader));
        var argument = loadingFrom ?? nameof(reader);
        var entries = SavedState.Read(reader, argument);
        try
        {
            CheckState([.. entries.Select(entry => (entry.Key, (Tensor?)entry.Value))], strict, skip, sameDType: true, argument);
            var own = base.state_dict();
            var found = new List<(string Key, bool Found)>();
            using (torch.no_grad())
            {
                foreach (var (key, value) in entries)
                {
                    var known = own.TryGetValue(key, out var target);
                    if (known && skip?.Contains(key) != true)
                    {
                        target!.copy_(value);
                    }

                    found.Add((key, known));
                }
            }

            stepValue = step.item<long>();
            foreach (var (key, known) in found)
            {
                loadedParameters?.Add(key, known);
            }
        }
        finally
        {
            foreach (var (_, value) in entries)
            {
                value.Dispose();
            }
        }

        return this;
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">
    /// The file holds no distiller state that fits this distiller (see <see cref="load(BinaryReader, bool, IList{string}?, Dictionary{string, bool}?)"/>);
    /// the message names <paramref name="location"/> and the distiller is left as it was.
    /// </exception>
    public override nn.Module load(string location, bool strict = true, IList<string>? skip = null, Dictionary<string, bool>? loadedParameters = null)
    {
        // TorchSharp's load(location) opens the file and calls load(reader), which checks the step: it names this argument.
        loadingFrom = nameof(location);
        try
        {
            return base.load(location, strict, skip, loadedParameters);
        }
        finally
        {
            loadingFrom = null;
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing && !disposed)
        {
            disposed = true;
            DisposeTerms();
        }

        base.Dispose(disposing);
    }

    private static DistillationTerm[] PresetTerms(DeFeatDistillerOptions options)
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

        RoiHeadKdTerm? proposal = null;
        FeatureAdapters? adapters = null;
        try
        {
            proposal = options.RoiHeads is { } heads
                ? new RoiHeadKdTerm(
                    new RoiHeadKdTermOptions { Name = ProposalTermName, Heads = heads, Loss = options.ProposalLoss, Schedule = options.Schedule },
                    $"{nameof(options)}.{nameof(options.RoiHeads)}")
                : null;
            adapters = options.StudentChannels is null ? null : new FeatureAdapters(options.StudentChannels, options.TeacherChannels!);
            return proposal is null ? [Neck(options, adapters)] : [Neck(options, adapters), proposal];
        }
        catch
        {
            proposal?.Dispose();
            adapters?.Dispose();
            throw;
        }
    }

    /// <summary>The preset's channel lists: one count per level each (as many as the strides, if given), each &gt; 0.</summary>
    private static void ValidateChannels(IReadOnlyList<long> studentChannels, IReadOnlyList<long> teacherChannels, IReadOnlyList<double>? strides)
    {
        const string Student = $"options.{nameof(DeFeatDistillerOptions.StudentChannels)}";
        const string Teacher = $"options.{nameof(DeFeatDistillerOptions.TeacherChannels)}";
        Guard.NotEmpty(studentChannels, Student);
        if (teacherChannels.Count != studentChannels.Count || (strides is not null && strides.Count != studentChannels.Count))
        {
            throw new ArgumentException(
                $"{Student} has {studentChannels.Count} level(s), {Teacher} {teacherChannels.Count}"
                + (strides is null ? string.Empty : $" and options.{nameof(DeFeatDistillerOptions.Strides)} {strides.Count}")
                + "; each must have one entry per neck level.",
                "options");
        }

        for (var level = 0; level < studentChannels.Count; level++)
        {
            Guard.Positive(studentChannels[level], $"{Student}[{level}]");
            Guard.Positive(teacherChannels[level], $"{Teacher}[{level}]");
        }
    }

    private static FeatureTerm Neck(DeFeatDistillerOptions options, FeatureAdapters? adapters)
        => new(
            new FeatureTermOptions
            {
                Name = NeckTermName,
                TeacherPath = options.TeacherNeckPath,
                StudentPath = options.StudentNeckPath,
                Loss = new DecoupledFeatureTermLoss(options.FeatureLoss),
                Adapters = adapters,
                MaskBuilder = options.MaskBuilder,
                Strides = options.Strides,
                Schedule = options.Schedule,
            },
            $"{nameof(options)}.{nameof(options.TeacherNeckPath)}",
            $"{nameof(options)}.{nameof(options.StudentNeckPath)}",
            "neck");

    private static void ValidateTapMode(TapMode mode, string option)
    {
        if (!Enum.IsDefined(mode))
        {
            throw new ArgumentOutOfRangeException(option, mode, $"{option} must be Auto, Hook, Wrapper or StandIn; got {mode}.");
        }
    }

    private static DistillerOptions PresetSettings(DeFeatDistillerOptions options)
        => new() { TeacherTapMode = options.TeacherTapMode, StudentTapMode = options.StudentTapMode, CheckFinite = options.CheckFinite };

    private static void ValidateTerms(IReadOnlyList<DistillationTerm> terms)
    {
        if (terms.Count == 0)
        {
            throw new ArgumentException("A distiller needs at least one term.", nameof(terms));
        }

        for (var index = 0; index < terms.Count; index++)
        {
            var term = Guard.NotNull(terms[index], $"{nameof(terms)}[{index}]");
            if (term.IsDisposed)
            {
                throw new ObjectDisposedException(
                    $"{nameof(terms)}[{index}]",
                    $"{nameof(terms)}[{index}] (the term '{term.Name}') was disposed; pass terms that are alive (a distiller owns and disposes its terms itself).");
            }

            if (terms.Take(index).Any(earlier => earlier.Name == term.Name))
            {
                throw new ArgumentException($"{nameof(terms)}[{index}] is named '{term.Name}' like an earlier term; term names must be unique.", nameof(terms));
            }
        }
    }

    private DistillationLosses Compute(IReadOnlyList<Tensor> gtBoxes, ImageSize imageSize)
    {
        Guard.Positive(imageSize.Height, $"{nameof(imageSize)}.{nameof(ImageSize.Height)}");
        Guard.Positive(imageSize.Width, $"{nameof(imageSize)}.{nameof(ImageSize.Width)}");
        Guard.NotNull(gtBoxes, nameof(gtBoxes));
        var termStep = new TermStep(gtBoxes, imageSize);
        var parts = new List<NamedLoss>();
        var levels = new List<NamedLoss>();
        var weights = new Dictionary<string, double>();
        var partsByTerm = new Dictionary<string, IReadOnlyList<string>>();
        var studentInputs = new Dictionary<string, IReadOnlyList<Tensor>>();
        var levelTotals = new Dictionary<string, IReadOnlyList<Tensor>>();
        Tensor? total = null;

        using var scope = torch.NewDisposeScope();
        foreach (var term in terms)
        {
            var termLosses = new TermLosses();
            term.Compute(termStep, termLosses);
            var weight = term.Weight * term.Schedule.WeightAt(Step);
            weights[term.Name] = weight;
            studentInputs[term.Name] = [.. termLosses.StudentInputs.Select(input => input.alias())];
            var termParts = new List<string>();
            partsByTerm[term.Name] = termParts;
            using var factor = weight.ToScalar();
            levelTotals[term.Name] = LevelTotals(termLosses, factor);
            foreach (var (part, value, byLevel) in termLosses.Parts)
            {
                var name = part.Length == 0 ? term.Name : $"{term.Name}_{part}";
                if (parts.Any(earlier => earlier.Name == name))
                {
                    throw new InvalidOperationException($"The term '{term.Name}' returned the loss '{name}' twice (or like an earlier term); part names must be unique.");
                }

                var weighted = value * factor;
                total = total is null ? weighted.alias() : total.add(weighted, HookScalars.One);
                parts.Add(new NamedLoss(name, weighted));
                termParts.Add(name);
                for (var level = 0; level < byLevel.Count; level++)
                {
                    levels.Add(new NamedLoss($"{name}[{term.LevelPosition(level)}]", byLevel[level] * factor));
                }
            }
        }

        var result = new DistillationLosses(
            [.. parts.Select(part => part with { Value = part.Value.MoveToOuterDisposeScope() })],
            total!.MoveToOuterDisposeScope(),
            [.. levels.Select(level => level with { Value = level.Value.MoveToOuterDisposeScope() })],
            weights,
            partsByTerm,
            studentInputs.ToDictionary(pair => pair.Key, pair => (IReadOnlyList<Tensor>)[.. pair.Value.Select(input => input.MoveToOuterDisposeScope())]),
            levelTotals.ToDictionary(pair => pair.Key, pair => (IReadOnlyList<Tensor>)[.. pair.Value.Select(total => total.MoveToOuterDisposeScope())]));
        if (checkFinite)
        {
            NonFiniteDiagnosis.ThrowIfNotFinite(result, terms, checkFiniteOption);
        }

        Step = stepValue + 1;
        return result;
    }

    /// <summary>
    /// The term's loss per level (its parts' level shares summed, times the term's weight), one per student input; empty
    /// when the parts have no level shares for every input.
    /// </summary>
    private static Tensor[] LevelTotals(TermLosses termLosses, Scalar factor)
    {
        var count = termLosses.StudentInputs.Count;
        if (count == 0 || termLosses.Parts.Any(part => part.ByLevel.Count != count))
        {
            return [];
        }

        var totals = new Tensor[count];
        for (var level = 0; level < count; level++)
        {
            var sum = termLosses.Parts[0].ByLevel[level];
            for (var part = 1; part < termLosses.Parts.Count; part++)
            {
                sum = sum.add(termLosses.Parts[part].ByLevel[level], HookScalars.One);
            }

            totals[level] = sum.mul(factor);
        }

        return totals;
    }

    /// <summary>Resumes the terms of a suspended distiller (once).</summary>
    private sealed class Resumption(DeFeatDistiller distiller) : IDisposable
    {
        private bool done;

        public void Dispose()
        {
            if (done || distiller.disposed)
            {
                return;
            }

            done = true;
            if (--distiller.suspensions > 0)
            {
                return; // an outer Suspend() still holds
            }

            foreach (var term in distiller.terms.Where(term => !term.IsDisposed))
            {
                term.Clear();
                term.SetSuspended(false);
            }
        }
    }

    /// <summary>
    /// Throws when the distiller or one of its terms was disposed: a term disposed by its user while the distiller
    /// still holds it would otherwise surface as a null reference in its detached taps.
    /// </summary>
    private void ThrowIfUnusable()
    {
        Guard.NotDisposed(disposed, nameof(DeFeatDistiller));
        for (var index = 0; index < terms.Length; index++)
        {
            if (terms[index].IsDisposed)
            {
                throw new ObjectDisposedException(
                    $"{nameof(Terms)}[{index}]",
                    $"The term '{terms[index].Name}' ({nameof(DeFeatDistiller)}.{nameof(Terms)}[{index}]) was disposed while its distiller still "
                    + "uses it; its taps are detached and its adaptation layers freed. A distiller owns its terms and disposes them when it "
                    + "is disposed itself: do not dispose a term you gave to a distiller. Dispose the distiller and create a new one with "
                    + "new terms to go on.");
            }
        }
    }

    /// <summary>
    /// Checks a state against this distiller's before anything is copied: with <paramref name="strict"/> the same keys
    /// (those in <paramref name="skip"/> aside); every known entry alive and of the same shape (and dtype, for
    /// <paramref name="sameDType"/>); the step ≥ 0.
    /// </summary>
    private void CheckState(IReadOnlyList<(string Key, Tensor? Value)> source, bool strict, IList<string>? skip, bool sameDType, string argument)
    {
        var own = base.state_dict();
        var skipped = skip ?? [];
        if (strict)
        {
            var given = source.Select(entry => entry.Key).ToHashSet(StringComparer.Ordinal);
            var unexpected = given.Where(key => !own.ContainsKey(key) && !skipped.Contains(key)).ToArray();
            var missing = own.Keys.Where(key => !given.Contains(key) && !skipped.Contains(key)).ToArray();
            if (unexpected.Length > 0 || missing.Length > 0)
            {
                throw new ArgumentException(
                    $"The distiller state does not have this distiller's entries: {Listing(missing, "missing")}{(missing.Length > 0 && unexpected.Length > 0 ? "; " : string.Empty)}"
                    + $"{Listing(unexpected, "not in this distiller")}. It was saved by a distiller with other terms ({TermListing(given)} in the state, "
                    + $"{TermListing(own.Keys)} here) or with adaptation layers for another number of levels. Nothing was loaded.",
                    argument);
            }
        }

        foreach (var (key, value) in source)
        {
            if (skipped.Contains(key) || !own.TryGetValue(key, out var target))
            {
                continue;
            }

            if (value is null || value.IsInvalid)
            {
                throw new ArgumentException(
                    $"The distiller state's '{key}' is {(value is null ? "null" : "a disposed tensor")}; every entry must be a live tensor. Nothing was loaded.", argument);
            }

            if (!value.shape.SequenceEqual(target.shape))
            {
                throw new ArgumentException(
                    $"The distiller state's '{key}' has shape {Guard.Shape(value)}, this distiller's {Guard.Shape(target)}: {ShapeHint(key, target.shape, value.shape)}. "
                    + "Nothing was loaded.",
                    argument);
            }

            if (sameDType && value.dtype != target.dtype)
            {
                throw new ArgumentException(
                    $"The distiller state's '{key}' has dtype {value.dtype}, this distiller's {target.dtype}; move the distiller to the dtype it was "
                    + "saved with (to(...)) before loading. Nothing was loaded.",
                    argument);
            }

            if (key == StepBuffer)
            {
                using var asLong = value.to_type(ScalarType.Int64);
                if (asLong.item<long>() is var loaded && loaded < 0)
                {
                    throw new ArgumentException($"The distiller state's '{StepBuffer}' is {loaded}; it must be ≥ 0. Nothing was loaded.", argument);
                }
            }
        }

        static string Listing(string[] keys, string what)
            => keys.Length == 0 ? string.Empty : $"{string.Join(", ", keys.Take(6).Select(key => $"'{key}'"))}{(keys.Length > 6 ? $" and {keys.Length - 6} more" : string.Empty)} {what}";

        static string TermListing(IEnumerable<string> keys)
        {
            var names = keys.Where(key => key.Contains('.', StringComparison.Ordinal)).Select(key => key[..key.IndexOf('.', StringComparison.Ordinal)]).Distinct().ToArray();
            return names.Length == 0 ? "no term with parameters" : $"terms with parameters {string.Join(", ", names)}";
        }
    }

    /// <summary>
    /// Why an entry's shape differs: for an adaptation layer (a 3×3 conv per level, weight [C_t, C_s, 3, 3], bias [C_t]),
    /// which channel count, the student's or the teacher's, the state was saved for.
    /// </summary>
    private string ShapeHint(string key, long[] own, long[] loaded)
    {
        var term = terms.OfType<FeatureTerm>().FirstOrDefault(term => term.Adapters is not null && key.StartsWith($"{term.Name}.adapters.", StringComparison.Ordinal));
        if (term is null)
        {
            return "it was saved by a distiller with other terms or settings";
        }

        var levelMatch = System.Text.RegularExpressions.Regex.Match(key, @"\.(\d+)\.");
        var level = levelMatch.Success ? $"level {levelMatch.Groups[1].Value} of " : string.Empty;
        var layer = $"{level}the adaptation layers of the term '{term.Name}'";
        var differs = new List<string>();
        if (own.Length == 4 && loaded.Length == 4)
        {
            if (own[0] != loaded[0])
            {
                differs.Add($"the teacher's channels (C_t = {loaded[0]} in the state, {own[0]} here)");
            }

            if (own[1] != loaded[1])
            {
                differs.Add($"the student's channels (C_s = {loaded[1]} in the state, {own[1]} here)");
            }

            if (!own[2..].SequenceEqual(loaded[2..]))
            {
                differs.Add($"the kernel ({loaded[2]}×{loaded[3]} in the state, {own[2]}×{own[3]} here)");
            }
        }
        else if (own.Length == 1 && loaded.Length == 1)
        {
            differs.Add($"the teacher's channels (C_t = {loaded[0]} in the state, {own[0]} here)");
        }

        return differs.Count == 0
            ? $"{layer} were saved for another layout"
            : $"{layer} were saved for other channel counts: {string.Join(" and ", differs)}. Load it into a distiller made for the same "
              + "student and teacher (the same StudentChannels and TeacherChannels)";
    }

    /// <summary>
    /// After a failed construction: disposes (which detaches) the terms this constructor attached and those it never
    /// attached, and the step buffer. A term that already served another distiller is left to that distiller.
    /// </summary>
    private void DisposeOnFailure(List<DistillationTerm> attached)
    {
        foreach (var term in terms)
        {
            if (term is not null && (attached.Contains(term) || !term.IsAttached))
            {
                term.Dispose();
            }
        }

        step.Dispose();
    }

    private void DisposeTerms()
    {
        foreach (var term in terms)
        {
            term.Dispose();
        }
    }
}
