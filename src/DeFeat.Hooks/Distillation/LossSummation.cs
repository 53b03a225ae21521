using DeFeat.Hooks.Terms;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Distillation;

/// <summary>
/// The distiller's sum of one step: every term computes its parts, each part is multiplied by the term's weight and
/// its schedule's weight at the step, and the parts, their level shares, the terms' per-level totals and their sum
/// become a <see cref="DistillationLosses"/>.
/// </summary>
internal static class LossSummation
{
    /// <summary>Computes and weights every term's parts of this step; the results live in the caller's dispose scope.</summary>
    /// <exception cref="InvalidOperationException">A term returned a part name twice, or like an earlier term.</exception>
    public static DistillationLosses Sum(IReadOnlyList<DistillationTerm> terms, TermStep termStep, long step)
    {
        var parts = new List<NamedLoss>();
        var levelsByPart = new Dictionary<string, IReadOnlyList<NamedLoss>>();
        var weights = new Dictionary<string, double>();
        var partsByTerm = new Dictionary<string, IReadOnlyList<string>>();
        var studentInputs = new Dictionary<string, IReadOnlyList<Tensor>>();
        var levelTotals = new Dictionary<string, IReadOnlyList<Tensor>>();
        Tensor? total = null;

        using var scope = torch.NewDisposeScope();
        foreach (var term in terms)
        {
            var termLosses = new TermLosses();
            term.ComputeStep(termStep, termLosses);
            var weight = term.Weight * term.Schedule.WeightAt(step);
            weights[term.Name] = weight;
            studentInputs[term.Name] = [.. termLosses.StudentInputs.Select(input => input.alias().MoveToOuterDisposeScope())];
            var termParts = new List<string>();
            partsByTerm[term.Name] = termParts;
            using var factor = weight.ToScalar();
            levelTotals[term.Name] = [.. LevelTotals(termLosses, factor).Select(sum => sum.MoveToOuterDisposeScope())];
            foreach (var part in termLosses.Parts)
            {
                var name = part.Name.Length == 0 ? term.Name : $"{term.Name}_{part.Name}";
                if (partsByTerm.Values.Any(earlier => earlier.Contains(name)))
                {
                    throw new InvalidOperationException($"The term '{term.Name}' returned the loss '{name}' twice (or like an earlier term); part names must be unique.");
                }

                var weighted = part.Value * factor;
                total = total is null ? weighted.alias() : total.add(weighted, HookScalars.One);
                parts.Add(new NamedLoss(name, weighted.MoveToOuterDisposeScope()));
                termParts.Add(name);
                var shares = new NamedLoss[part.ByLevel.Count];
                for (var level = 0; level < shares.Length; level++)
                {
                    shares[level] = new NamedLoss($"{name}[{term.LevelPosition(level)}]", (part.ByLevel[level] * factor).MoveToOuterDisposeScope());
                }

                levelsByPart[name] = shares;
            }
        }

        return new DistillationLosses(parts, total!.MoveToOuterDisposeScope(), levelsByPart, weights, partsByTerm, studentInputs, levelTotals);
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
}
