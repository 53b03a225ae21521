using DeFeat.Hooks.Schedules;
using DeFeat.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Terms;

/// <summary>
/// One term of a distiller: a teacher/student tap pair (a neck, backbone stages, an RoI head, a dense head), the
/// adaptation layers where there are any, a loss, the object-mask rule where it applies, and a weight with its
/// schedule. The built-in kinds are <see cref="FeatureTerm"/> (any feature pair and any <see cref="IFeatureTermLoss"/>:
/// the seam for adding a loss), <see cref="ProposalKdTerm"/> (decoupled proposal classification KD of two-stage
/// detectors) and <see cref="DenseHeadKdTerm"/> (decoupled KD of a one-stage dense head's class scores).
/// </summary>
/// <remarks>
/// <para>
/// A term is a module: the modules it creates (adaptation layers) are its parameters, registered under the distiller as
/// <c>{Name}.…</c>. Create it, hand it to one distiller (which attaches its taps to the two models, and detaches them
/// when it is disposed); its losses appear as <c>{Name}_{part}</c> (e.g. <c>neck_object</c>), each multiplied by
/// <see cref="Weight"/> × <see cref="Schedule"/>'s weight at the step.
/// </para>
/// <para>
/// A kind of your own (docs/custom-term.md): derive from this class, pass your options (derived from
/// <see cref="DistillationTermOptions"/>) and the two module paths to the constructor, and override
/// <see cref="Compute"/>: read the two recorded outputs from <see cref="Taps"/>, compute your loss and add its parts to
/// the <see cref="TermLosses"/>. The distiller does the rest: it attaches and detaches the tap pair, clears what it
/// recorded after each step, suspends it, weights your parts and sums them. Override <see cref="DiagnoseNonFinite"/> to
/// explain a NaN, and <see cref="OnCleared"/> when <see cref="Compute"/> keeps something for that diagnosis; register
/// (<c>register_module</c>) every module you create, so that it is saved, moved and disposed with the term.
/// </para>
/// </remarks>
public abstract class DistillationTerm : nn.Module
{
    /// <summary>The option names of the checks below: every term's constructor takes its options as <c>options</c>.</summary>
    private const string NameOption = "options.Name";
    private const string WeightOption = "options.Weight";

    private readonly TapTargets targets;
    private TapPair? taps;

    /// <summary>Creates a term that taps <paramref name="teacherPath"/> in the teacher and <paramref name="studentPath"/> in the student.</summary>
    /// <param name="options">The term's name, weight and schedule.</param>
    /// <param name="teacherPath">Dotted path of the teacher's submodule (as <c>named_modules()</c> names it).</param>
    /// <param name="studentPath">Dotted path of the student's submodule.</param>
    /// <exception cref="ArgumentNullException">An argument or the name is null.</exception>
    /// <exception cref="ArgumentException">The name holds other characters than letters, digits and '_', or the weight is negative.</exception>
    protected DistillationTerm(DistillationTermOptions options, string teacherPath, string studentPath)
        : this(
            options,
            new TapTargets(
                Guard.NotNull(teacherPath, nameof(teacherPath)),
                Guard.NotNull(studentPath, nameof(studentPath)),
                nameof(teacherPath),
                nameof(studentPath)))
    {
    }

    /// <summary>The built-in terms: their taps' option names, selector and recording mode.</summary>
    private protected DistillationTerm(DistillationTermOptions options, TapTargets targets)
        : base(ValidName(Guard.NotNull(options, nameof(options)).Name))
    {
        Name = options.Name;
        Weight = Guard.NonNegative(options.Weight, WeightOption);
        Schedule = options.Schedule ?? new ConstantSchedule();
        this.targets = targets;
    }

    /// <summary>
    /// The term's name: the prefix of its losses (<c>{Name}_{part}</c>) and of its parameters under the distiller; letters,
    /// digits and '_', unique within a distiller.
    /// </summary>
    public string Name { get; }

    /// <summary>The term's weight (≥ 0), multiplied into every loss of the term on top of the loss's own λ/β.</summary>
    public double Weight { get; }

    /// <summary>The term's weight over training, evaluated at the distiller's step; default constant 1.</summary>
    public WeightSchedule Schedule { get; }

    /// <summary>Whether a distiller has attached the term (a term serves one distiller).</summary>
    internal bool IsAttached { get; private set; }

    /// <summary>Whether the term was disposed (its taps are detached and its modules freed).</summary>
    internal bool IsDisposed { get; private set; }

    /// <summary>The teacher's and the student's taps; what they recorded in this step is what <see cref="Compute"/> reads.</summary>
    /// <exception cref="InvalidOperationException">No distiller has attached the term yet.</exception>
    protected TapPair Taps => taps ?? throw new InvalidOperationException($"The term '{Name}' is not attached: hand it to a distiller first.");

    /// <summary>Attaches the term's taps (and relays) to the two models; on failure the term leaves both models as they were.</summary>
    internal void AttachTo(TermModels models)
    {
        if (IsAttached)
        {
            throw new ArgumentException(
                $"The term '{Name}' already belongs to a distiller; create a new term for each distiller.", "terms");
        }

        taps = TapPair.Attach(models, targets);
        try
        {
            OnAttached(models);
        }
        catch
        {
            Detach();
            throw;
        }

        IsAttached = true;
    }

    /// <summary>Runs <see cref="Compute"/> for the distiller.</summary>
    internal void ComputeStep(TermStep step, TermLosses losses) => Compute(step, losses);

    /// <summary>Runs <see cref="DiagnoseNonFinite"/> for the distiller.</summary>
    internal string? Diagnose() => DiagnoseNonFinite();

    /// <summary>The position reported for level <paramref name="level"/> of the term's per-level shares (<c>{Name}_{part}[{position}]</c>).</summary>
    internal virtual int LevelPosition(int level) => level;

    /// <summary>Forgets what the taps recorded in this step, and what <see cref="Compute"/> kept.</summary>
    internal void Clear()
    {
        OnCleared();
        taps?.Clear();
    }

    /// <summary>Suspends (true) or resumes (false) the term's taps and relays.</summary>
    internal void SetSuspended(bool suspended)
    {
        if (taps is not null)
        {
            taps.Suspended = suspended;
            OnSuspended(suspended);
        }
    }

    /// <summary>
    /// Adds the term's losses of this step (each already weighted by the loss's own λ/β, not yet by <see cref="Weight"/>
    /// and the schedule) to <paramref name="losses"/>, and the student tensors they were computed from. Runs inside the
    /// distiller's dispose scope, after both models' forwards, with <see cref="Taps"/> holding what they recorded.
    /// </summary>
    /// <param name="step">The GT boxes and the image size of this step, and the object-mask step.</param>
    /// <param name="losses">Where the parts go.</param>
    protected abstract void Compute(TermStep step, TermLosses losses);

    /// <summary>
    /// Names the first recorded tensor of this step that is not finite (after <see cref="Compute"/>, before the taps
    /// are cleared), or null; the distiller calls it when <c>CheckFinite</c> finds a non-finite loss of this term.
    /// </summary>
    /// <returns>A sentence naming the tensor (level, whose), or null when nothing recorded is at fault; default null.</returns>
    protected virtual string? DiagnoseNonFinite() => null;

    /// <summary>Forgets what <see cref="Compute"/> kept for <see cref="DiagnoseNonFinite"/>; called at the end of every step.</summary>
    protected virtual void OnCleared()
    {
    }

    /// <summary>Attaches what a built-in term needs besides its taps (the proposal relay).</summary>
    private protected virtual void OnAttached(TermModels models)
    {
    }

    /// <summary>Suspends or resumes what <see cref="OnAttached"/> attached.</summary>
    private protected virtual void OnSuspended(bool suspended)
    {
    }

    /// <summary>Detaches what <see cref="OnAttached"/> attached.</summary>
    private protected virtual void OnDetached()
    {
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            IsDisposed = true;
            Detach();
        }

        base.Dispose(disposing);
    }

    /// <summary>True when every element of <paramref name="tensor"/> is finite (one host read; for <see cref="DiagnoseNonFinite"/>).</summary>
    /// <param name="tensor">A recorded tensor.</param>
    /// <returns>Whether it holds neither NaN nor infinity.</returns>
    protected static bool AllFinite(Tensor tensor) => Guard.NotNull(tensor, nameof(tensor)).isfinite().all().item<bool>();

    private static string ValidName(string name)
    {
        Guard.NotNull(name, NameOption);
        return name.Length > 0 && name.All(character => char.IsAsciiLetterOrDigit(character) || character == '_')
            ? name
            : throw new ArgumentException($"{NameOption} (a term's name) must be non-empty and hold only letters, digits and '_'; got '{name}'.", NameOption);
    }

    /// <summary>Detaches the taps and relays, leaving the models as they were.</summary>
    private void Detach()
    {
        OnCleared();
        OnDetached();
        taps?.Dispose();
        taps = null;
    }
}
