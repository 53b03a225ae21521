using DeFeat.Hooks.Distillation;
using DeFeat.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Balance;

/// <summary>
/// Automatic balance of distillation against detection: scales each term's losses (per level by default) so that their
/// gradient at the student's features stays at most <see cref="DistillationBalancerOptions.TargetRatio"/> (ρ) times the detector's
/// own loss's gradient there. Add its result, not <see cref="DistillationLosses.Total"/>, to the detector's loss.
/// </summary>
/// <remarks>
/// <para>
/// Every <see cref="DistillationBalancerOptions.Interval"/> steps (and at the first) it measures, per term t and level l,
/// g_kd = ‖∂L_t/∂x_l‖ and g_task = ‖∂L_task/∂x_l‖ at the term's student tensors x_l
/// (<see cref="DistillationLosses.StudentInputs"/>), keeps running averages of both, and sets
/// s_t,l = min(MaximumScale, ρ·ḡ_task / ḡ_kd). Its result is Σ_t Σ_l s_t,l·L_t,l (<see cref="DistillationLosses.LevelTotals"/>;
/// with <see cref="DistillationBalancerOptions.PerLevel"/> off, or for a term without level shares, one scale per term over the
/// norm of all its levels). A scale multiplies every part of the term at that level, so the paper's object/background
/// ratio (λ_obj : λ_bg) is kept, unless <see cref="DistillationBalancerOptions.Parts"/> names the parts to scale (e.g. only the
/// background; the others then act at their own weights and are added unscaled). Where the task loss does not reach the term's student tensors (e.g. an RoI head re-run on
/// the teacher's proposals outside the detection loss) the scale stays MaximumScale.
/// </para>
/// <para>
/// The measurement and the scales stay on the device: no host read. The scales, the averages and the step are the
/// buffers <c>scales</c>, <c>kd_norms</c>, <c>task_norms</c>, <c>measurements</c> and <c>step</c> of
/// <c>state_dict()</c> (one entry per term, or per term and level, in the order the terms were given); save and load them
/// with the distiller so that a resumed run continues with the same scales.
/// </para>
/// </remarks>
public sealed class DistillationBalancer : nn.Module<DistillationLosses, Tensor, Tensor>
{
    private readonly (string Term, int Levels)[] terms;
    private readonly Tensor step;
    private readonly Tensor measurements;
    private readonly Tensor scales;
    private readonly Tensor kdNorms;
    private readonly Tensor taskNorms;
    private long stepValue;
    private long measurementCount;

    /// <summary>The argument a failed load names while load(location) runs through load(reader); null otherwise.</summary>
    private string? loadingFrom;

    /// <summary>Creates a balancer for the terms of one distiller, every scale at <see cref="DistillationBalancerOptions.MaximumScale"/>.</summary>
    /// <param name="levelsByTerm">
    /// Each term's name (<c>distiller.Terms</c>) and the number of student tensors it reads: a neck term its FPN levels (e.g.
    /// 5), a backbone term its stages, the RoI-head term 1. At least one term; counts ≥ 1.
    /// </param>
    /// <param name="options">Target ratio, interval, smoothing, per-level or per-term, largest scale; null = the defaults.</param>
    /// <exception cref="ArgumentNullException"><paramref name="levelsByTerm"/> or a name in it is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="levelsByTerm"/> is empty or a count is below 1.</exception>
    public DistillationBalancer(IReadOnlyDictionary<string, int> levelsByTerm, DistillationBalancerOptions? options = null)
        : base(nameof(DistillationBalancer))
    {
        Guard.NotNull(levelsByTerm, nameof(levelsByTerm));
        Guard.NotEmpty(levelsByTerm.Keys.ToArray(), nameof(levelsByTerm));
        terms = [.. levelsByTerm.Select(pair => (pair.Key, (int)Guard.Positive(pair.Value, $"{nameof(levelsByTerm)}[{pair.Key}]")))];
        Options = options ?? new DistillationBalancerOptions();
        var entries = terms.Sum(term => Options.PerLevel ? term.Levels : 1);
        step = torch.zeros([], ScalarType.Int64);
        measurements = torch.zeros([], ScalarType.Int64);
        using var initialScale = Options.MaximumScale.ToScalar();
        scales = torch.full([entries], initialScale, ScalarType.Float32);
        kdNorms = torch.zeros([entries], ScalarType.Float32);
        taskNorms = torch.zeros([entries], ScalarType.Float32);
        register_buffer("step", step);
        register_buffer("measurements", measurements);
        register_buffer("scales", scales);
        register_buffer("kd_norms", kdNorms);
        register_buffer("task_norms", taskNorms);
    }

    /// <summary>The options it was created with.</summary>
    public DistillationBalancerOptions Options { get; }

    /// <summary>What each entry of <see cref="Scales"/> scales: (term, level), level −1 for a whole term.</summary>
    public IReadOnlyList<(string Term, int Level)> Entries
        => [.. terms.SelectMany(term => Options.PerLevel ? Enumerable.Range(0, term.Levels).Select(level => (term.Term, level)) : [(term.Term, -1)])];

    /// <summary>
    /// The current scales, <c>[E]</c> float32 in the order of <see cref="Entries"/> (the buffer itself: reading its values is
    /// a host read; do not write to it).
    /// </summary>
    public Tensor Scales => scales;

    /// <summary>Calls made so far (the <c>step</c> buffer); the next measurement is at the next multiple of the interval.</summary>
    public long Step => stepValue;

    /// <summary>
    /// The step's distillation loss to add to the detector's loss, Σ s·L over the entries (plus the parts that
    /// <see cref="DistillationBalancerOptions.Parts"/> leaves unscaled), after updating the scales when this step is a measurement step.
    /// </summary>
    /// <param name="losses">The step's distillation losses (the distiller's result), before the step's backward.</param>
    /// <param name="taskLoss">The detector's own loss of the same step, a 0-D tensor, before the step's backward.</param>
    /// <returns>A 0-D tensor of the losses' dtype with a gradient path to the student and the adaptation layers.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="taskLoss"/> is not 0-D, <paramref name="losses"/> has other terms or other level counts than
    /// the balancer was made for, or <see cref="DistillationBalancerOptions.Parts"/> names a part no term has; the message names them.
    /// </exception>
    /// <exception cref="ObjectDisposedException">
    /// A tensor of <paramref name="losses"/> or <paramref name="taskLoss"/> was disposed (kept past its step's dispose
    /// scope); the message names it.
    /// </exception>
    public override Tensor forward(DistillationLosses losses, Tensor taskLoss)
    {
        Guard.NotNull(losses, nameof(losses));
        Guard.NotNull(taskLoss, nameof(taskLoss));
        Guard.Rank(taskLoss, 0, nameof(taskLoss), "a 0-D loss");
        var names = terms.Select(term => term.Term).ToArray();
        if (!losses.PartsByTerm.Keys.Order(StringComparer.Ordinal).SequenceEqual(names.Order(StringComparer.Ordinal)))
        {
            throw new ArgumentException(
                $"{nameof(losses)} holds the terms {string.Join(", ", losses.PartsByTerm.Keys)}, but this balancer was made for {string.Join(", ", names)}.",
                nameof(losses));
        }

        foreach (var (term, levels) in terms)
        {
            if (losses.StudentInputs[term].Count != levels)
            {
                throw new ArgumentException(
                    $"The term '{term}' read {losses.StudentInputs[term].Count} student tensor(s) this step, but the balancer was made for {levels}; pass its level count in levelsByTerm.",
                    nameof(losses));
            }
        }

        FeatureGradients.ThrowIfDisposed(losses, nameof(losses));
        var balanced = BalancedParts(losses);
        var pieces = Pieces(losses, balanced);
        if (stepValue % Options.Interval == 0)
        {
            Measure(losses, balanced, taskLoss);
        }

        using (torch.no_grad())
        {
            step.add_(HookScalars.One, HookScalars.One);
        }

        stepValue++;
        var result = stack(pieces).mul(scales.to(pieces[0].device).to(pieces[0].dtype)).sum();
        foreach (var part in losses.Parts.Where(part => !balanced.Values.Any(names => names.Contains(part.Name))))
        {
            result = result.add(part.Value, HookScalars.One);
        }

        return result;
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">
    /// A buffer has another shape than this balancer's (it was saved for other terms or levels), is null or disposed, or
    /// <c>step</c> or <c>measurements</c> is negative; the message names it.
    /// </exception>
    public override (IList<string>, IList<string>) load_state_dict(Dictionary<string, Tensor> source, bool strict = true, IList<string>? skip = null)
    {
        Guard.NotNull(source, nameof(source));
        foreach (var (name, own) in state_dict())
        {
            if (source.TryGetValue(name, out var entry) && entry is not { IsInvalid: false })
            {
                throw new ArgumentException(
                    $"The balancer state's '{name}' is {(entry is null ? "null" : "a disposed tensor")}; every entry must be a live tensor.", nameof(source));
            }

            if (source.TryGetValue(name, out var loaded) && !loaded.shape.SequenceEqual(own.shape))
            {
                throw new ArgumentException(
                    $"The balancer state's '{name}' has shape {Guard.Shape(loaded)}, this balancer's {Guard.Shape(own)} "
                    + $"(entries: {EntryList}); "
                    + "it was saved for other terms or levels.",
                    nameof(source));
            }
        }

        ThrowIfNegative(source.GetValueOrDefault("step", step), source.GetValueOrDefault("measurements", measurements), nameof(source));
        var result = base.load_state_dict(source, strict, skip);
        SyncCounters();
        return result;
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The state does not fit this balancer, or holds a negative step; the balancer is left as it was.</exception>
    public override nn.Module load(BinaryReader reader, bool strict = true, IList<string>? skip = null, Dictionary<string, bool>? loadedParameters = null)
        => LoadChecked(() => base.load(reader, strict, skip, loadedParameters), loadingFrom ?? nameof(reader));

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The state does not fit this balancer, or holds a negative step; the balancer is left as it was.</exception>
    public override nn.Module load(string location, bool strict = true, IList<string>? skip = null, Dictionary<string, bool>? loadedParameters = null)
        => SavedState.LoadNaming(name => loadingFrom = name, nameof(location), () => base.load(location, strict, skip, loadedParameters));

    /// <summary>Loads through <paramref name="load"/>; on a state that does not fit, restores the previous one and says why.</summary>
    private nn.Module LoadChecked(Func<nn.Module> load, string argument)
    {
        var previous = state_dict().ToDictionary(pair => pair.Key, pair => pair.Value.clone());
        try
        {
            var result = load();
            ThrowIfNegative(step, measurements, argument);
            SyncCounters();
            return result;
        }
        catch (Exception error)
        {
            base.load_state_dict(previous);
            throw error.Message.StartsWith("The balancer state's", StringComparison.Ordinal)
                ? error
                : new ArgumentException(
                    $"The balancer state does not fit this balancer (entries: {EntryList}; buffers step, measurements, scales, "
                    + $"kd_norms, task_norms): {error.Message}",
                    argument,
                    error);
        }
        finally
        {
            foreach (var tensor in previous.Values)
            {
                tensor.Dispose();
            }
        }
    }

    private string EntryList => string.Join(", ", Entries.Select(entry => entry.Level < 0 ? entry.Term : $"{entry.Term}[{entry.Level}]"));

    private static void ThrowIfNegative(Tensor stepState, Tensor measurementsState, string argument)
    {
        var counters = stack([stepState, measurementsState]).cpu().data<long>().ToArray();
        if (counters.Any(value => value < 0))
        {
            throw new ArgumentException($"The balancer state's step ({counters[0]}) and measurements ({counters[1]}) must be ≥ 0.", argument);
        }
    }

    /// <summary>Reads the counters back from the buffers after a load (a host read, at load time only).</summary>
    private void SyncCounters()
    {
        var counters = stack([step, measurements]).cpu().data<long>().ToArray();
        (stepValue, measurementCount) = (counters[0], counters[1]);
    }

    /// <summary>
    /// By term, the names of the parts the balancer scales (<see cref="DistillationBalancerOptions.Parts"/>; every part when null).
    /// </summary>
    /// <exception cref="ArgumentException">A name of <see cref="DistillationBalancerOptions.Parts"/> is a part of no term.</exception>
    private Dictionary<string, string[]> BalancedParts(DistillationLosses losses)
    {
        var result = terms.ToDictionary(
            term => term.Term,
            term => losses.PartsByTerm[term.Term].Where(name => Options.Parts is null || Options.Parts.Any(part => name == $"{term.Term}_{part}")).ToArray());
        var unknown = Options.Parts?.Where(part => !terms.Any(term => result[term.Term].Contains($"{term.Term}_{part}"))).ToArray() ?? [];
        if (unknown.Length > 0)
        {
            throw new ArgumentException(
                $"options.{nameof(DistillationBalancerOptions.Parts)} names {string.Join(", ", unknown.Select(part => $"'{part}'"))}, which no term has; "
                + $"this step's parts are {string.Join(", ", losses.Parts.Select(part => part.Name))} (name a part by what follows the term's name, e.g. \"background\").",
                nameof(losses));
        }

        return result;
    }

    /// <summary>The losses the entries scale, in entry order: per level (level totals) or per term (term totals) of the balanced parts.</summary>
    private Tensor[] Pieces(DistillationLosses losses, Dictionary<string, string[]> balanced)
        => [.. terms.SelectMany(term =>
        {
            var perLevel = Options.PerLevel ? LevelShares(losses, term.Term, balanced[term.Term], term.Levels) : null;
            var total = Sum(losses, balanced[term.Term]);
            return perLevel
                ?? (Options.PerLevel ? [total, .. Enumerable.Repeat(losses.Total.mul(HookScalars.Zero), term.Levels - 1)] : [total]);
        })];

    /// <summary>
    /// The balanced parts' loss per level (each level's shares of those parts summed), or null when a part has no level
    /// shares for every level (a loss that is not a sum over levels).
    /// </summary>
    private static Tensor[]? LevelShares(DistillationLosses losses, string term, string[] parts, int levels)
    {
        if (parts.Length == losses.PartsByTerm[term].Count)
        {
            return losses.LevelTotals[term].Count == levels ? [.. losses.LevelTotals[term]] : null;
        }

        var shares = parts.Select(part => losses.LevelsByPart[part].Select(level => level.Value).ToArray()).ToArray();
        if (shares.Any(partShares => partShares.Length != levels))
        {
            return null;
        }

        return [.. Enumerable.Range(0, levels).Select(level => parts.Length == 0
            ? losses.Total.mul(HookScalars.Zero)
            : shares.Select(partShares => partShares[level]).Aggregate((sum, share) => sum.add(share, HookScalars.One)))];
    }

    /// <summary>The sum of the named parts, a 0-D tensor (zero, still on the losses' graph, when there are none).</summary>
    private static Tensor Sum(DistillationLosses losses, string[] parts)
        => parts.Length == 0
            ? losses.Total.mul(HookScalars.Zero)
            : parts.Select(name => losses[name]).Aggregate((sum, part) => sum.add(part, HookScalars.One));

    /// <summary>Measures both gradients at every term's student tensors and updates the averages and the scales.</summary>
    private void Measure(DistillationLosses losses, Dictionary<string, string[]> balanced, Tensor taskLoss)
    {
        using var scope = torch.NewDisposeScope();
        var kd = new List<Tensor>();
        var task = new List<Tensor>();
        foreach (var (term, levels) in terms)
        {
            var inputs = losses.StudentInputs[term];
            var kdGradients = FeatureGradients.Of(Sum(losses, balanced[term]), inputs);
            var taskGradients = FeatureGradients.Of(taskLoss, inputs);
            if (Options.PerLevel && LevelShares(losses, term, balanced[term], levels) is not null)
            {
                kd.AddRange(kdGradients.Select(Norm));
                task.AddRange(taskGradients.Select(Norm));
            }
            else
            {
                // One scale for the whole term (repeated over its entries when they are per level but its loss has no
                // level shares: only the first entry then scales anything).
                var (kdTerm, taskTerm) = (Norm(kdGradients), Norm(taskGradients));
                kd.AddRange(Enumerable.Repeat(kdTerm, Options.PerLevel ? levels : 1));
                task.AddRange(Enumerable.Repeat(taskTerm, Options.PerLevel ? levels : 1));
            }
        }

        using var noGrad = torch.no_grad();
        var (kdNow, taskNow) = (stack(kd).to(kdNorms.device), stack(task).to(taskNorms.device));
        var keep = measurementCount == 0 ? 0.0 : Options.Smoothing;
        using var keepScalar = keep.ToScalar();
        using var takeScalar = (1 - keep).ToScalar();
        using var target = Options.TargetRatio.ToScalar();
        using var maximum = Options.MaximumScale.ToScalar();
        kdNorms.mul_(keepScalar).add_(kdNow.mul(takeScalar), HookScalars.One);
        taskNorms.mul_(keepScalar).add_(taskNow.mul(takeScalar), HookScalars.One);
        var wanted = taskNorms.mul(target).div(kdNorms).clamp_max(maximum);
        scales.copy_(torch.where(taskNorms.gt(HookScalars.Zero), wanted, torch.full_like(wanted, maximum)));
        measurements.add_(HookScalars.One, HookScalars.One);
        measurementCount++;
    }

    /// <summary>‖x‖₂ over every element, a 0-D float32 tensor.</summary>
    private static Tensor Norm(Tensor gradient)
    {
        var single = gradient.to(float32);
        return single.mul(single).sum().sqrt();
    }

    /// <summary>‖(x_1, …, x_L)‖₂ over every element of every level, a 0-D float32 tensor.</summary>
    private static Tensor Norm(Tensor[] gradients) => stack(gradients.Select(Norm).ToArray()).norm();
}
