using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Distillation;

/// <summary>
/// Reads a module state as TorchSharp's <c>Module.save</c> writes it (the entry count, LEB128-encoded, then for each
/// entry its key and its tensor), without copying anything into a module: the distiller checks every entry first
/// (keys, shapes, dtypes, its step), so that a state that does not fit is refused with its key named and the distiller
/// left as it was. TorchSharp's own <c>load</c> copies the entries one by one and names none when one does not fit.
/// </summary>
internal static class SavedState
{
    /// <summary>Reads every entry, in the order saved; the caller owns (and disposes) the tensors.</summary>
    /// <exception cref="ArgumentException">The stream ends early or holds something else; names <paramref name="argument"/>.</exception>
    public static List<(string Key, Tensor Value)> Read(BinaryReader reader, string argument)
    {
        var entries = new List<(string Key, Tensor Value)>();
        try
        {
            // LEB128 for a non-negative count is BinaryReader's 7-bit encoded integer.
            var count = reader.Read7BitEncodedInt64();
            for (long index = 0; index < count; index++)
            {
                var key = reader.ReadString();
                entries.Add((key, TensorExtensionMethods.Load(reader)));
            }

            return entries;
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            foreach (var (_, value) in entries)
            {
                value.Dispose();
            }

            throw new ArgumentException(
                $"{argument} holds no readable distiller state (it failed after {entries.Count} entr{(entries.Count == 1 ? "y" : "ies")}: "
                + $"{error.Message}); it must be what a Distiller's save(...) wrote. Nothing was loaded.",
                argument,
                error);
        }
    }

    /// <summary>
    /// Runs TorchSharp's <c>load(location)</c> (which opens the file and calls <c>load(reader)</c>) with
    /// <paramref name="setArgument"/> telling the checking <c>load(reader)</c> override to name
    /// <paramref name="argument"/> instead of its reader in a message, and clears that name afterwards.
    /// </summary>
    public static nn.Module LoadNaming(Action<string?> setArgument, string argument, Func<nn.Module> load)
    {
        setArgument(argument);
        try
        {
            return load();
        }
        finally
        {
            setArgument(null);
        }
    }
}
