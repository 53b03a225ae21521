using DeFeat.Hooks.Distillation;
using DeFeat.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Balance;

/// <summary>
/// The opt-in diagnostic of the balance between distillation and detection: for one step, the gradient of every
/// distillation loss at the student tensors it reads (per term, per level) against the gradient of the detector's own
/// loss there. Distillation "drowns" the task when its gradient at the student's features is many times the task's:
/// comparing loss values does not show it, because an imitation loss reaches every cell of every level while the
/// detection losses reach the features only through the sampled anchors and RoIs.
/// </summary>
/// <remarks>
/// Costs one partial backward per distillation part and one for the task loss (the graph is kept for the step's own
/// backward) and one host read; call it every few hundred steps, not every step. Nothing of it runs unless called.
/// </remarks>
public static class GradientBalance
{
    /// <summary>Measures the gradients of <paramref name="losses"/> and of <paramref name="taskLoss"/> at the student's tensors.</summary>
    /// <param name="losses">The step's distillation losses (the distiller's result), before the step's backward.</param>
    /// <param name="taskLoss">The detector's own loss of the same step, a 0-D tensor, before the step's backward.</param>
    /// <param name="sites">
    /// Extra places to measure at, by name: student tensors of this step's forward (e.g. the last backbone stage that
    /// the neck and the heads share, recorded with a <c>FeatureTap</c>); every term's parts and total are measured at each.
    /// Null: only each term at its own student tensors (<see cref="DistillationLosses.StudentInputs"/>).
    /// </param>
    /// <returns>The report; its <see cref="GradientBalanceReport.Warning"/> says whether distillation dominates.</returns>
    /// <exception cref="ArgumentNullException">An argument (or a site's tensor) is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="taskLoss"/> is not a 0-D tensor.</exception>
    /// <exception cref="ObjectDisposedException">
    /// A tensor of <paramref name="losses"/>, <paramref name="taskLoss"/> or <paramref name="sites"/> was disposed (kept
    /// past its step's dispose scope); the message names it.
    /// </exception>
    public static GradientBalanceReport Measure(
        DistillationLosses losses, Tensor taskLoss, IReadOnlyDictionary<string, IReadOnlyList<Tensor>>? sites = null)
    {
        Guard.NotNull(losses, nameof(losses));
        Guard.NotNull(taskLoss, nameof(taskLoss));
        Guard.Rank(taskLoss, 0, nameof(taskLoss), "a 0-D loss");
        FeatureGradients.ThrowIfDisposed(losses, nameof(losses));
        var places = losses.StudentInputs.Select(pair => (Site: pair.Key, Terms: (IReadOnlyList<string>)[pair.Key], Inputs: pair.Value)).ToList();
        foreach (var (site, tensors) in sites ?? new Dictionary<string, IReadOnlyList<Tensor>>())
        {
            var checkedTensors = Guard.NotNull(tensors, $"{nameof(sites)}[{site}]");
            for (var i = 0; i < checkedTensors.Count; i++)
            {
                Guard.NotNull(checkedTensors[i], $"{nameof(sites)}[{site}][{i}]");
            }

            places.Add((site, [.. losses.PartsByTerm.Keys], checkedTensors));
        }

        using var scope = torch.NewDisposeScope();
        var rows = new List<(string Site, string Term, string Loss, int Level)>();
        var measured = new List<Tensor>();
        foreach (var (site, terms, inputs) in places)
        {
            if (inputs.Count == 0)
            {
                continue;
            }

            var task = FeatureGradients.Of(taskLoss, inputs);
            foreach (var term in terms)
            {
                var parts = losses.PartsByTerm[term].Select(name => (name, FeatureGradients.Of(losses[name], inputs))).ToList();
                var total = Enumerable.Range(0, inputs.Count).Select(level => parts.Select(part => part.Item2[level]).Aggregate((a, b) => a.add(b, HookScalars.One))).ToArray();
                for (var level = 0; level < inputs.Count; level++)
                {
                    foreach (var (name, gradients) in parts.Append((term, total)))
                    {
                        rows.Add((site, term, name, level));
                        measured.Add(NormsAndDot(gradients[level], task[level]));
                    }
                }
            }
        }

        if (measured.Count == 0)
        {
            return new GradientBalanceReport([]);
        }

        var values = stack(measured).to(float64).cpu().data<double>().ToArray();
        return new GradientBalanceReport([.. rows.Select((row, i) =>
        {
            var (kd, task, dot) = (values[3 * i], values[(3 * i) + 1], values[(3 * i) + 2]);
            return new GradientBalanceEntry(row.Site, row.Term, row.Loss, row.Level, kd, task, dot / (kd * task));
        })]);
    }

    /// <summary>[‖a‖, ‖b‖, ⟨a, b⟩] in float64.</summary>
    private static Tensor NormsAndDot(Tensor a, Tensor b)
    {
        var (x, y) = (a.to(float64).flatten(), b.to(float64).flatten());
        return stack([x.dot(x).sqrt(), y.dot(y).sqrt(), x.dot(y)]);
    }
}
