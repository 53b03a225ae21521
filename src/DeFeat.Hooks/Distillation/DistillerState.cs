using DeFeat.Hooks.Terms;
using DeFeat.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Distillation;

/// <summary>
/// The distiller's step and the checks of a state before it is loaded: the step is the buffer <c>step</c> of the
/// distiller's <c>state_dict()</c> (a 0-D int64 tensor) mirrored on the host, and a state that does not fit (other keys,
/// shapes, dtypes, a negative step) is refused with its key named before anything is copied.
/// </summary>
/// <param name="terms">The distiller's terms, for the messages (which term's adaptation layers differ).</param>
/// <param name="buffer">
/// The distiller's current step buffer: the distiller holds it in a field, which <c>to(...)</c> replaces with the moved
/// tensor.
/// </param>
internal sealed class DistillerState(IReadOnlyList<DistillationTerm> terms, Func<Tensor> buffer)
{
    /// <summary>The name of the step buffer in the distiller's state.</summary>
    public const string BufferName = "step";

    /// <summary>The step (≥ 0), read without a host transfer.</summary>
    public long Value { get; private set; }

    /// <summary>Sets the step and fills the buffer.</summary>
    /// <param name="step">The new step (≥ 0).</param>
    /// <param name="property">The name the message gives (the distiller's <c>Step</c>).</param>
    /// <exception cref="ArgumentOutOfRangeException">The step is negative.</exception>
    public void Set(long step, string property)
    {
        if (step < 0)
        {
            throw new ArgumentOutOfRangeException(property, step, $"{property} must be ≥ 0; got {step}.");
        }

        Value = step;
        using var scalar = step.ToScalar();
        using var noGrad = torch.no_grad();
        buffer().fill_(scalar);
    }

    /// <summary>Reads the step back from the buffer after a load copied into it.</summary>
    public void Reload() => Value = buffer().item<long>();

    /// <summary>
    /// Checks every entry of a saved state (read by <see cref="SavedState.Read"/>), then copies the known ones into
    /// <paramref name="own"/> (except those in <paramref name="skip"/>) and reloads the step.
    /// </summary>
    public void Load(Dictionary<string, Tensor> own, List<(string Key, Tensor Value)> entries, bool strict, IList<string>? skip, Dictionary<string, bool>? loadedParameters, string argument)
    {
        Check(own, [.. entries.Select(entry => (entry.Key, (Tensor?)entry.Value))], strict, skip, sameDType: true, argument);
        var found = new List<(string Key, bool Found)>();
        using (torch.no_grad())
        {
            foreach (var (key, entry) in entries)
            {
                var known = own.TryGetValue(key, out var target);
                if (known && skip?.Contains(key) != true)
                {
                    target!.copy_(entry);
                }

                found.Add((key, known));
            }
        }

        Reload();
        foreach (var (key, known) in found)
        {
            loadedParameters?.Add(key, known);
        }
    }

    /// <summary>
    /// Checks a state against this distiller's before anything is copied: with <paramref name="strict"/> the same keys
    /// (those in <paramref name="skip"/> aside); every known entry alive and of the same shape (and dtype, for
    /// <paramref name="sameDType"/>); the step ≥ 0.
    /// </summary>
    public void Check(Dictionary<string, Tensor> own, IReadOnlyList<(string Key, Tensor? Value)> source, bool strict, IList<string>? skip, bool sameDType, string argument)
    {
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

            if (key == BufferName)
            {
                using var asLong = value.to_type(ScalarType.Int64);
                if (asLong.item<long>() is var loaded && loaded < 0)
                {
                    throw new ArgumentException($"The distiller state's '{BufferName}' is {loaded}; it must be ≥ 0. Nothing was loaded.", argument);
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
            return "it was saved by a distiller with other terms or options";
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
}
