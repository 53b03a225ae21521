using System.Collections;
using System.Reflection;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Support;

/// <summary>
/// What a model's structure is made of, by object identity: every registered module (by name), the value of every
/// reference-typed field of every module (list and array fields item by item), and the state_dict keys. Two
/// snapshots are equal when nothing was replaced, added or removed anywhere.
/// </summary>
public sealed class ModelSnapshot
{
    private readonly List<(string Where, object? Value)> entries = [];

    private ModelSnapshot(nn.Module model)
    {
        foreach (var (name, module) in model.named_modules())
        {
            entries.Add(($"module '{name}'", module));
            for (var type = module.GetType(); type is not null; type = type.BaseType)
            {
                foreach (var field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                {
                    if (field.FieldType.IsValueType)
                    {
                        continue;
                    }

                    var value = field.GetValue(module);
                    entries.Add(($"'{name}'.{type.Name}.{field.Name}", value));
                    if (value is IList list and not Tensor)
                    {
                        entries.AddRange(list.Cast<object?>().Select((item, index) => ($"'{name}'.{field.Name}[{index}]", item)));
                    }
                }
            }
        }

        entries.AddRange(model.state_dict().Keys.Order(StringComparer.Ordinal).Select(key => ($"state_dict key", (object?)key)));
    }

    public static ModelSnapshot Of(nn.Module model) => new(model);

    /// <summary>The entries that differ (by reference for objects, by value for strings and boxed values), as readable lines; empty when identical.</summary>
    public IReadOnlyList<string> Differences(ModelSnapshot other)
    {
        var differences = new List<string>();
        if (entries.Count != other.entries.Count)
        {
            differences.Add($"{entries.Count} entries before, {other.entries.Count} after");
        }

        foreach (var (before, after) in entries.Zip(other.entries))
        {
            var same = before.Where == after.Where
                && (before.Value is string or ValueType ? Equals(before.Value, after.Value) : ReferenceEquals(before.Value, after.Value));
            if (!same)
            {
                differences.Add($"{before.Where}: {before.Value?.GetType().Name} → {after.Where}: {after.Value?.GetType().Name}");
            }
        }

        return differences;
    }
}
