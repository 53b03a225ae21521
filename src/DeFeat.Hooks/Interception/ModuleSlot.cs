using DeFeat.Hooks.Diagnostics;
using System.Collections;
using System.Reflection;
using System.Runtime.CompilerServices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Interception;

/// <summary>
/// A place in a parent module's managed state that holds a submodule and that the parent's code reads it from: a
/// field, an element of a list or array field, the module of a <c>(name, module)</c> list entry, or a dictionary value
/// (which covers the items of TorchSharp's <c>ModuleList</c> and <c>ModuleDict</c>). TorchSharp's own registry of
/// submodules (what <c>named_modules()</c>, <c>state_dict()</c> and <c>to(...)</c> use) is never a slot.
/// </summary>
internal abstract class ModuleSlot
{
    private const BindingFlags InstanceFields = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;

    private ModuleSlot(object owner, FieldInfo field)
    {
        Owner = owner;
        Field = field;
    }

    /// <summary>The object whose field is (or holds) the slot: the parent module.</summary>
    public object Owner { get; }

    /// <summary>The field that is, or holds the collection that holds, the slot.</summary>
    public FieldInfo Field { get; }

    /// <summary>The type a value put in the slot must have.</summary>
    public abstract Type DeclaredType { get; }

    /// <summary>Whether the slot is an element of a collection rather than a field of its own.</summary>
    public abstract bool IsElement { get; }

    /// <summary>The slot, as a reader of the parent's source would spell it (<c>FPN.neck</c>, <c>ModuleList&lt;Conv2d&gt;[0]</c>).</summary>
    public abstract string Describe();

    /// <summary>The slot's current value.</summary>
    public abstract object? Get();

    /// <summary>Puts <paramref name="value"/> in the slot.</summary>
    public abstract void Set(nn.Module value);

    /// <summary>
    /// Every slot of <paramref name="parent"/> that holds <paramref name="child"/>: fields declared by the parent's own
    /// classes (not TorchSharp's), and the item storage of TorchSharp's <c>ModuleList</c> / <c>ModuleDict</c>.
    /// </summary>
    public static IReadOnlyList<ModuleSlot> FindAll(nn.Module parent, nn.Module child)
    {
        var found = new List<ModuleSlot>();
        for (var type = parent.GetType(); type is not null && type != typeof(object); type = type.BaseType)
        {
            if (type.Assembly == typeof(nn.Module).Assembly && !IsItemContainer(type))
            {
                continue;
            }

            foreach (var field in type.GetFields(InstanceFields).Where(field => !field.FieldType.IsValueType))
            {
                found.AddRange(SlotsIn(parent, field, child));
            }
        }

        return found;
    }

    private static bool IsItemContainer(Type type)
        => type.IsGenericType && (type.GetGenericTypeDefinition() == typeof(ModuleList<>) || type.GetGenericTypeDefinition() == typeof(ModuleDict<>));

    private static IEnumerable<ModuleSlot> SlotsIn(nn.Module parent, FieldInfo field, nn.Module child)
    {
        var value = field.GetValue(parent);
        if (ReferenceEquals(value, child))
        {
            yield return new FieldSlot(parent, field);
        }
        else if (value is IList list && ElementType(field.FieldType) is { } elementType)
        {
            for (var index = 0; index < list.Count; index++)
            {
                if (ReferenceEquals(list[index], child))
                {
                    yield return new ListSlot(parent, field, list, index, elementType);
                }
                else if (list[index] is ITuple { Length: 2 } entry && entry[0] is string && ReferenceEquals(entry[1], child))
                {
                    yield return new NamedListSlot(parent, field, list, index, elementType);
                }
            }
        }
        else if (value is IDictionary dictionary && field.FieldType.IsGenericType && field.FieldType.GetGenericArguments() is [_, var valueType])
        {
            foreach (var key in dictionary.Keys.Cast<object>().Where(key => ReferenceEquals(dictionary[key], child)).ToArray())
            {
                yield return new DictionarySlot(parent, field, dictionary, key, valueType);
            }
        }
    }

    private static Type? ElementType(Type collectionType)
        => collectionType.IsArray
            ? collectionType.GetElementType()
            : collectionType.IsGenericType && collectionType.GetGenericArguments() is [var element] ? element : null;

    private sealed class FieldSlot(object owner, FieldInfo field) : ModuleSlot(owner, field)
    {
        public override Type DeclaredType => Field.FieldType;

        public override bool IsElement => false;

        public override string Describe() => $"the field '{Field.Name}' of {TypeNames.Of(Owner.GetType())}";

        public override object? Get() => Field.GetValue(Owner);

        public override void Set(nn.Module value) => Field.SetValue(Owner, value);
    }

    private sealed class ListSlot(object owner, FieldInfo field, IList list, int index, Type elementType) : ModuleSlot(owner, field)
    {
        public override Type DeclaredType => elementType;

        public override bool IsElement => true;

        public override string Describe() => $"item {index} of {TypeNames.Of(Owner.GetType())}";

        public override object? Get() => list[index];

        public override void Set(nn.Module value) => list[index] = value;
    }

    /// <summary>An entry <c>(string name, T module)</c> of a list (a ModuleDict's ordered items).</summary>
    private sealed class NamedListSlot(object owner, FieldInfo field, IList list, int index, Type entryType) : ModuleSlot(owner, field)
    {
        public override Type DeclaredType => entryType.GetGenericArguments()[1];

        public override bool IsElement => true;

        public override string Describe() => $"entry '{((ITuple)list[index]!)[0]}' of {TypeNames.Of(Owner.GetType())}";

        public override object? Get() => ((ITuple)list[index]!)[1];

        public override void Set(nn.Module value) => list[index] = Activator.CreateInstance(entryType, ((ITuple)list[index]!)[0], value);
    }

    private sealed class DictionarySlot(object owner, FieldInfo field, IDictionary dictionary, object key, Type valueType) : ModuleSlot(owner, field)
    {
        public override Type DeclaredType => valueType;

        public override bool IsElement => true;

        public override string Describe() => $"entry '{key}' of {TypeNames.Of(Owner.GetType())}";

        public override object? Get() => dictionary[key];

        public override void Set(nn.Module value) => dictionary[key] = value;
    }
}
