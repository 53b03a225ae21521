namespace DeFeat.Hooks.Diagnostics;

/// <summary>Type names as C# source spells them (<c>nn.Module&lt;List&lt;Tensor&gt;, List&lt;Tensor&gt;&gt;</c>), for error messages.</summary>
internal static class TypeNames
{
    private static readonly Dictionary<Type, string> Keywords = new()
    {
        [typeof(bool)] = "bool", [typeof(byte)] = "byte", [typeof(sbyte)] = "sbyte", [typeof(short)] = "short",
        [typeof(ushort)] = "ushort", [typeof(int)] = "int", [typeof(uint)] = "uint", [typeof(long)] = "long",
        [typeof(ulong)] = "ulong", [typeof(float)] = "float", [typeof(double)] = "double", [typeof(decimal)] = "decimal",
        [typeof(char)] = "char", [typeof(string)] = "string", [typeof(object)] = "object", [typeof(void)] = "void",
    };

    /// <summary>
    /// The C# spelling of <paramref name="type"/>: keywords for built-in types, <c>T[]</c>, <c>T?</c>, tuples as
    /// <c>(A, B)</c>, generic arguments in angle brackets, nested types with their declaring types, and TorchSharp's
    /// <c>torch.</c> prefix dropped (<c>nn.Module</c>, <c>Tensor</c>, as code with <c>using static TorchSharp.torch;</c>
    /// writes them).
    /// </summary>
    public static string Of(Type type)
    {
        if (Keywords.TryGetValue(type, out var keyword))
        {
            return keyword;
        }

        if (type.IsArray)
        {
            return Of(type.GetElementType()!) + "[" + new string(',', type.GetArrayRank() - 1) + "]";
        }

        if (Nullable.GetUnderlyingType(type) is { } underlying)
        {
            return Of(underlying) + "?";
        }

        if (type.IsGenericType && type.FullName?.StartsWith("System.ValueTuple`", StringComparison.Ordinal) == true)
        {
            return "(" + string.Join(", ", type.GetGenericArguments().Select(Of)) + ")";
        }

        return Qualified(type, type.IsGenericType ? type.GetGenericArguments() : []);
    }

    private static string Qualified(Type type, Type[] arguments)
    {
        var own = type.IsGenericType ? arguments.Length - (type.DeclaringType?.GetGenericArguments().Length ?? 0) : 0;
        var name = type.Name;
        var tick = name.IndexOf('`', StringComparison.Ordinal);
        if (tick >= 0)
        {
            name = name[..tick];
        }

        if (own > 0)
        {
            name += "<" + string.Join(", ", arguments[^own..].Select(Of)) + ">";
        }

        if (type.DeclaringType is { } declaring)
        {
            var outer = Qualified(declaring, arguments[..^own]);
            return outer == "torch" && declaring.Namespace == "TorchSharp" ? name : outer + "." + name;
        }

        return name;
    }
}
