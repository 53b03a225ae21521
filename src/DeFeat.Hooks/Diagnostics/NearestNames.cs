namespace DeFeat.Hooks.Diagnostics;

/// <summary>The valid names nearest to a mistyped one, for "did you mean" lists in error messages.</summary>
internal static class NearestNames
{
    /// <summary>
    /// Up to <paramref name="count"/> of <paramref name="valid"/>, nearest first: names that extend
    /// <paramref name="wanted"/> or that it extends by a dotted segment, then by Levenshtein edit distance, then
    /// ordinally.
    /// </summary>
    public static string[] To(string wanted, IEnumerable<string> valid, int count)
        => valid
            .OrderBy(name => name.StartsWith(wanted, StringComparison.Ordinal) || wanted.StartsWith(name + ".", StringComparison.Ordinal) ? 0 : 1)
            .ThenBy(name => Distance(wanted, name))
            .ThenBy(name => name, StringComparer.Ordinal)
            .Take(count)
            .ToArray();

    /// <summary>Levenshtein edit distance.</summary>
    private static int Distance(string first, string second)
    {
        var previous = Enumerable.Range(0, second.Length + 1).ToArray();
        var current = new int[second.Length + 1];
        for (var i = 1; i <= first.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= second.Length; j++)
            {
                var substitution = previous[j - 1] + (first[i - 1] == second[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitution, Math.Min(previous[j], current[j - 1]) + 1);
            }

            (previous, current) = (current, previous);
        }

        return previous[second.Length];
    }
}
