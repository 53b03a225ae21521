using DeFeat.Hooks.Schedules;
using DeFeat.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Terms;

/// <summary>
/// One term of a <see cref="Distillation.DeFeatDistiller"/>: a teacher/student tap pair (a neck, backbone stages, an
/// RoI head, a dense head), the adaptation layers where there are any, a loss, the object-mask rule where it applies,
/// and a weight with its schedule. The kinds are <see cref="FeatureTerm"/> (any feature pair and any
/// <see cref="IFeatureTermLoss"/>: the one seam for adding a loss), <see cref="RoiHeadKdTerm"/> (decoupled proposal
/// classification KD of two-stage detectors) and <see cref="DenseHeadKdTerm"/> (decoupled KD of a one-stage dense
/// head's class scores).
/// </summary>
/// <remarks>
/// A term is a module: its adaptation layers are its parameters, registered under the distiller as
/// <c>{Name}.…</c>. Create it, hand it to one distiller (which attaches its taps to the two models, and detaches them
/// when it is disposed); its losses appear in <see cref="Distillation.DistillationLosses"/> as <c>{Name}_{part}</c>
/// (e.g. <c>neck_object</c>), each multiplied by <see cref="Weight"/> × <see cref="Schedule"/>'s weight at the step.
/// </remarks>
public abstract class DistillationTerm : nn.Module
{
    /// <summary>The option names of the checks below: every term's constructor takes its options as <c>options</c>.</summary>
    private const string NameOption = "options.Name";
    private const string WeightOption = "options.Weight";

    private protected DistillationTerm(string name, double weight, WeightSchedule? schedule)
        : base(ValidName(name))
    {
        Name = name;
        Weight = Guard.NonNegative(weight, WeightOption);
        Schedule = schedule ?? new ConstantSchedule();
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

    /// <summary>Whether the term was disposed (its taps are detached and its adaptation layers freed).</summary>
    internal bool IsDisposed { get; private set; }

    /// <summary>Attaches the term's taps to the two models; on failure the term leaves both models as they were.</summary>
    internal void AttachTo(TermModels models)
    {
        if (IsAttached)
        {
            throw new ArgumentException(
                $"The term '{Name}' already belongs to a distiller; create a new term for each distiller.", "terms");
        }

        Attach(models);
        IsAttached = true;
    }

    /// <summary>Attaches the taps (and relays) of the term.</summary>
    private protected abstract void Attach(TermModels models);

    /// <summary>
    /// Adds the term's losses of this step (already weighted by the loss's own λ/β, not yet by <see cref="Weight"/> and
    /// the schedule) to <paramref name="losses"/>. Runs inside the distiller's dispose scope.
    /// </summary>
    internal abstract void Compute(TermStep step, TermLosses losses);

    /// <summary>The position reported for level <paramref name="level"/> of the term's per-level shares (<c>{Name}_{part}[{position}]</c>).</summary>
    internal virtual int LevelPosition(int level) => level;

    /// <summary>Names the first recorded tensor of this step that is not finite, or null (after <see cref="Compute"/>, before <see cref="Clear"/>).</summary>
    internal abstract string? DiagnoseNonFinite();

    /// <summary>Forgets what the taps recorded in this step (and what <see cref="Compute"/> kept for the diagnosis).</summary>
    internal abstract void Clear();

    /// <summary>Suspends (true) or resumes (false) the term's taps and relays.</summary>
    internal abstract void SetSuspended(bool suspended);

    /// <summary>Detaches the taps, leaving the models as they were.</summary>
    internal abstract void Detach();

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

    private static string ValidName(string name)
    {
        Guard.NotNull(name, NameOption);
        return name.Length > 0 && name.All(character => char.IsAsciiLetterOrDigit(character) || character == '_')
            ? name
            : throw new ArgumentException($"{NameOption} (a term's name) must be non-empty and hold only letters, digits and '_'; got '{name}'.", NameOption);
    }

    /// <summary>True when every element of <paramref name="tensor"/> is finite (one host read; diagnosis only).</summary>
    private protected static bool AllFinite(Tensor tensor) => tensor.isfinite().all().item<bool>();
}
