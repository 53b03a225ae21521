using DeFeat.Hooks.Terms;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Distillation;

/// <summary>
/// The opt-in finiteness check of <see cref="Distiller"/>: one host read of the total per step; when it is not
/// finite, a diagnosis that names the non-finite losses and the first recorded tensor (term, level, whose) that makes
/// them so.
/// </summary>
internal static class NonFiniteDiagnosis
{
    /// <summary>Throws when <paramref name="result"/>'s total is not finite; the message names the losses and the cause.</summary>
    /// <exception cref="InvalidOperationException">A loss is NaN or infinite.</exception>
    public static void ThrowIfNotFinite(DistillationLosses result, IReadOnlyList<DistillationTerm> terms, string option)
    {
        if (result.Total.isfinite().item<bool>())
        {
            return;
        }

        using var scope = NewDisposeScope();
        var names = result.Parts.Where(part => !part.Value.isfinite().item<bool>()).Select(part => part.Name).ToArray();
        var cause = terms
            .Where(term => names.Any(name => name == term.Name || name.StartsWith($"{term.Name}_", StringComparison.Ordinal)))
            .Select(term => term.Diagnose())
            .FirstOrDefault(diagnosis => diagnosis is not null)
            ?? "every recorded input is finite; the weight schedule or the loss weights make a term overflow";
        throw new InvalidOperationException(
            $"Distillation losses {string.Join(", ", names)} are not finite at this step: {cause}. "
            + $"(This check is on because {option} is true; it costs one host read per step.)");
    }
}
