using DeFeat.Hooks.Diagnostics;
using DeFeat.Hooks.Interception;
using DeFeat.Hooks.Recording;
using DeFeat.Hooks.Teacher;
using DeFeat.Hooks.Terms;
using DeFeat.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Distillation;

/// <summary>
/// Distillation for any TorchSharp teacher/student detector pair, one training step at a time, composed of terms
/// (<see cref="DistillationTerm"/>: a tap pair, adaptation layers, a loss, a mask rule, a weight and a schedule). It
/// freezes the teacher, attaches every term's taps, and after the two forwards sums what the terms compute from what
/// their taps recorded into the named losses of <see cref="DistillationLosses"/>. It knows nothing of any recipe:
/// <see cref="DeFeatRecipe"/> builds DeFeat's (neck, optionally proposal KD); any list of terms composes another (the
/// authors' COCO recipe with backbone stages, one-stage dense-head KD, PKD, a loss or a term of your own).
/// </summary>
/// <remarks>
/// <para>
/// Per step: run the teacher through <see cref="Teacher"/> (<c>distiller.Teacher.Run(() =&gt; teacher.call(x))</c>) and
/// the student as usual — with teacher-sampled proposals the teacher first, with student-sampled proposals the student
/// first — then call the distiller with the GT boxes and, where a term needs it, the image size. Each term computes its
/// parts; the distiller multiplies them by the term's weight and its schedule's weight at <see cref="Step"/>, sums them,
/// advances <see cref="Step"/> and forgets the recorded tensors.
/// </para>
/// <para>
/// The distiller owns its terms and what they create (adaptation layers): those are its <c>parameters()</c>, named
/// <c>{term}.adapters.…</c>; give them to the student's optimiser and move the distiller with <c>to(...)</c> along with
/// the student. <see cref="Step"/> is the buffer <c>step</c> of its <c>state_dict()</c>, so <c>save</c> / <c>load</c>
/// restore the adapters and the step together and training resumes exactly. Disposing the distiller detaches every tap
/// (removes the hooks, restores every slot that held a substitute) and disposes the terms; the teacher stays frozen.
/// </para>
/// <para>
/// Memory: the taps hold their own aliases of the recorded outputs (valid even when a model's forward opens and
/// closes its own dispose scope) and free them when the distiller's call ends; the distiller keeps no tensor past its
/// call, and its intermediates (masks, per-level shares) are disposed inside it. With the documented loop
/// (<c>using var scope = torch.NewDisposeScope();</c> per step) the live tensor count stays flat.
/// </para>
/// </remarks>
public sealed class Distiller : nn.Module<IReadOnlyList<Tensor>, ImageSize?, DistillationLosses>
{
    private readonly DistillationTerm[] terms;
    private readonly DistillerState state;

    /// <summary>The step buffer (0-D int64); a field, so that <c>to(...)</c> replaces it with the moved tensor.</summary>
    private readonly Tensor step;
    private readonly string checkFiniteOption;
    private readonly bool checkFinite;

    /// <summary>Suspend() handles not yet disposed: the taps record again when the last one is.</summary>
    private int suspensions;

    /// <summary>The argument a failed load names while load(location) runs through load(reader); null otherwise.</summary>
    private string? loadingFrom;
    private bool disposed;

    /// <summary>A distiller composed of <paramref name="terms"/>, attached in order.</summary>
    /// <param name="teacher">The teacher detector; it is frozen (eval, no gradients) once everything else has succeeded.</param>
    /// <param name="student">The student detector; its mode and parameters are not touched.</param>
    /// <param name="terms">
    /// The terms (at least one, unique names, each new: a term serves one distiller); the distiller owns and disposes them,
    /// also when this constructor throws (except a term that already serves another distiller, which is left to it).
    /// </param>
    /// <param name="options">Tap modes and the finiteness check; null = defaults.</param>
    /// <exception cref="ArgumentNullException">An argument or a term is null.</exception>
    /// <exception cref="ArgumentException">
    /// The teacher and the student are the same module; no term; two terms share a name; a term already serves another
    /// distiller; or a term cannot attach (the message names the option and the model). A constructor that throws leaves
    /// both models exactly as they were.
    /// </exception>
    public Distiller(nn.Module teacher, nn.Module student, IEnumerable<DistillationTerm> terms, DistillerOptions? options = null)
        : this(teacher, student, Guard.NotNull(terms, nameof(terms)).ToArray(), options, nameof(options))
    {
    }

    /// <summary>A recipe's distiller: messages name the recipe's argument for the distiller options.</summary>
    internal Distiller(nn.Module teacher, nn.Module student, DistillationTerm[] terms, DistillerOptions? options, string optionsName)
        : base(nameof(Distiller))
    {
        this.terms = terms;
        step = torch.zeros(Array.Empty<long>(), ScalarType.Int64);
        state = new DistillerState(terms, () => step);
        options ??= new DistillerOptions();
        try
        {
            Guard.NotNull(teacher, nameof(teacher));
            Guard.NotNull(student, nameof(student));
            checkFiniteOption = $"{optionsName}.{nameof(DistillerOptions.CheckFinite)}";
            checkFinite = options.CheckFinite;
            if (ReferenceEquals(teacher, student))
            {
                throw new ArgumentException(
                    $"{nameof(teacher)} and {nameof(student)} are the same {TypeNames.Of(teacher.GetType())} instance; the teacher is frozen, so "
                    + "the student would never train. Pass two models (e.g. load the teacher's weights into a second instance).",
                    nameof(student));
            }

            ValidateTerms(terms);
            ValidateTapMode(options.TeacherTapMode, $"{optionsName}.{nameof(DistillerOptions.TeacherTapMode)}");
            ValidateTapMode(options.StudentTapMode, $"{optionsName}.{nameof(DistillerOptions.StudentTapMode)}");
        }
        catch
        {
            DisposeOnFailure([]);
            throw;
        }

        var models = new TermModels(teacher, student, options.TeacherTapMode, options.StudentTapMode);
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

        register_buffer(DistillerState.BufferName, step);
    }

    /// <summary>The terms, in the order they are computed and their losses listed.</summary>
    public IReadOnlyList<DistillationTerm> Terms => terms;

    /// <summary>The frozen teacher: run its forward through <see cref="FrozenTeacher.Run{TResult}"/> each step.</summary>
    public FrozenTeacher Teacher { get; } = null!;

    /// <summary>
    /// The step the schedules are evaluated at, starting at 0 and advanced by one per call; it is the buffer <c>step</c>
    /// of <c>state_dict()</c>, so <c>save</c>/<c>load</c> restore it. Set it to resume from elsewhere or to count epochs
    /// instead of iterations (≥ 0).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public long Step
    {
        get => state.Value;
        set => state.Set(value, nameof(Step));
    }

    /// <summary>Computes the losses of the current step from what the taps recorded in the two forwards.</summary>
    /// <param name="gtBoxes">One [N_i, 4] (x1, y1, x2, y2) floating-point tensor of GT boxes per image, in input pixels.</param>
    /// <param name="imageSize">
    /// The input batch's (padded) size in pixels, height first; needed only by a term that derives its strides from it
    /// (a feature or dense-head term with masks and without <c>Strides</c>) or reads flattened dense scores; when given
    /// it is cross-checked with the feature sizes. Null when no term needs it.
    /// </param>
    /// <returns>The weighted named losses of this step.</returns>
    /// <exception cref="InvalidOperationException">
    /// A tap recorded nothing (a model did not run, or its parent calls the tapped submodule with <c>forward(...)</c>:
    /// use <see cref="TapMode.Wrapper"/>), or the proposals were not relayed.
    /// </exception>
    /// <exception cref="ObjectDisposedException">The distiller, or one of its terms, was disposed (the message names the term).</exception>
    /// <exception cref="ArgumentException">
    /// Inconsistent shapes (level counts, sizes, channels), boxes, image size or strides; a term needs the image size and
    /// none was given. The message names them.
    /// </exception>
    public override DistillationLosses forward(IReadOnlyList<Tensor> gtBoxes, ImageSize? imageSize)
    {
        ThrowIfUnusable();
        try
        {
            if (imageSize is { } size)
            {
                Guard.Positive(size.Height, $"{nameof(imageSize)}.{nameof(ImageSize.Height)}");
                Guard.Positive(size.Width, $"{nameof(imageSize)}.{nameof(ImageSize.Width)}");
            }

            Guard.NotNull(gtBoxes, nameof(gtBoxes));
            var result = LossSummation.Sum(terms, new TermStep(gtBoxes, imageSize), Step);
            if (checkFinite)
            {
                NonFiniteDiagnosis.ThrowIfNotFinite(result, terms, checkFiniteOption);
            }

            Step = state.Value + 1;
            return result;
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
    /// <see cref="forward"/> without an image size, for recipes whose terms need none (their strides given, or no masks).
    /// </summary>
    /// <param name="gtBoxes">One [N_i, 4] (x1, y1, x2, y2) floating-point tensor of GT boxes per image, in input pixels.</param>
    /// <returns>The weighted named losses of this step.</returns>
    /// <exception cref="ArgumentException">A term needs the image size (the message names <c>imageSize</c> and the term), or as for <see cref="forward"/>.</exception>
    public DistillationLosses call(IReadOnlyList<Tensor> gtBoxes) => call(gtBoxes, null);

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
        state.Check(base.state_dict(), [.. source.Select(pair => (pair.Key, (Tensor?)pair.Value))], strict, skip, sameDType: false, nameof(source));
        var result = base.load_state_dict(source, strict, skip);
        state.Reload();
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
            state.Load(base.state_dict(), entries, strict, skip, loadedParameters, argument);
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
        => SavedState.LoadNaming(name => loadingFrom = name, nameof(location), () => base.load(location, strict, skip, loadedParameters));

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing && !disposed)
        {
            disposed = true;
            foreach (var term in terms)
            {
                term.Dispose();
            }
        }

        base.Dispose(disposing);
    }

    private static void ValidateTapMode(TapMode mode, string option)
    {
        if (!Enum.IsDefined(mode))
        {
            throw new ArgumentOutOfRangeException(option, mode, $"{option} must be Auto, Hook, Wrapper or StandIn; got {mode}.");
        }
    }

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

    /// <summary>
    /// Throws when the distiller or one of its terms was disposed: a term disposed by its user while the distiller
    /// still holds it would otherwise surface as a null reference in its detached taps.
    /// </summary>
    private void ThrowIfUnusable()
    {
        Guard.NotDisposed(disposed, nameof(Distiller));
        for (var index = 0; index < terms.Length; index++)
        {
            if (terms[index].IsDisposed)
            {
                throw new ObjectDisposedException(
                    $"{nameof(Terms)}[{index}]",
                    $"The term '{terms[index].Name}' ({nameof(Distiller)}.{nameof(Terms)}[{index}]) was disposed while its distiller still "
                    + "uses it; its taps are detached and its adaptation layers freed. A distiller owns its terms and disposes them when it "
                    + "is disposed itself: do not dispose a term you gave to a distiller. Dispose the distiller and create a new one with "
                    + "new terms to go on.");
            }
        }
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

    /// <summary>Resumes the terms of a suspended distiller (once).</summary>
    private sealed class Resumption(Distiller distiller) : IDisposable
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
}
