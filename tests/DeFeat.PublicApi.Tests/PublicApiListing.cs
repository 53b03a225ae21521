using System.Reflection;
using System.Text;

namespace DeFeat.PublicApi.Tests;

/// <summary>
/// Writes the public surface of an assembly as sorted text lines: one line per public type and one per public or
/// protected member, with full signatures. Compiler-generated members (record plumbing) are included, so a change to
/// a record's shape shows up too.
/// </summary>
internal static class PublicApiListing
{
    private const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance |
                                          BindingFlags.Static | BindingFlags.DeclaredOnly;

    public static IReadOnlyList<string> Of(Assembly assembly)
    {
        var lines = new List<string>();
        foreach (var type in assembly.GetExportedTypes())
        {
            lines.Add(TypeLine(type));
            foreach (var member in type.GetMembers(Declared).Where(IsVisible))
            {
                lines.Add($"{Name(type)} :: {MemberLine(member)}");
            }
        }

        lines.Sort(StringComparer.Ordinal);
        return lines;
    }

    private static bool IsVisible(MemberInfo member) => member switch
    {
        MethodBase m => (m.IsPublic || m.IsFamily || m.IsFamilyOrAssembly) && !IsAccessor(m),
        FieldInfo f => f.IsPublic || f.IsFamily || f.IsFamilyOrAssembly,
        PropertyInfo p => p.GetAccessors(nonPublic: true).Any(a => a.IsPublic || a.IsFamily || a.IsFamilyOrAssembly),
        EventInfo e => e.AddMethod is { } add && (add.IsPublic || add.IsFamily),
        Type t => t.IsNestedPublic || t.IsNestedFamily,
        _ => false,
    };

    private static bool IsAccessor(MethodBase method)
        => method.IsSpecialName && (method.Name.StartsWith("get_", StringComparison.Ordinal) ||
                                    method.Name.StartsWith("set_", StringComparison.Ordinal) ||
                                    method.Name.StartsWith("add_", StringComparison.Ordinal) ||
                                    method.Name.StartsWith("remove_", StringComparison.Ordinal));

    private static string TypeLine(Type type)
    {
        var kind = type.IsInterface ? "interface" : type.IsEnum ? "enum" : type.IsValueType ? "struct" :
            typeof(Delegate).IsAssignableFrom(type) ? "delegate" : type.IsAbstract && type.IsSealed ? "static class" :
            type.IsAbstract ? "abstract class" : type.IsSealed ? "sealed class" : "class";
        var bases = new List<string>();
        if (type.BaseType is { } baseType && baseType != typeof(object) && baseType != typeof(ValueType) && baseType != typeof(Enum))
        {
            bases.Add(Name(baseType));
        }

        bases.AddRange(type.GetInterfaces().Select(Name).Order(StringComparer.Ordinal));
        return $"{kind} {Name(type)}" + (bases.Count > 0 ? " : " + string.Join(", ", bases) : "");
    }

    private static string MemberLine(MemberInfo member) => member switch
    {
        ConstructorInfo c => $"{Access(c)}{(c.IsStatic ? "static " : "")}.ctor({Parameters(c)})",
        MethodInfo m => $"{Access(m)}{Modifiers(m)}{Name(m.ReturnType)} {m.Name}{GenericArguments(m)}({Parameters(m)})",
        PropertyInfo p => $"{(p.GetAccessors(true)[0].IsStatic ? "static " : "")}{Name(p.PropertyType)} {p.Name} {{ {string.Join(" ", p.GetAccessors(true).Where(a => a.IsPublic || a.IsFamily).Select(Accessor))} }}",
        FieldInfo f => $"{(f.IsLiteral ? "const " : f.IsStatic ? "static " : "")}{(f.IsInitOnly ? "readonly " : "")}{Name(f.FieldType)} {f.Name}" +
                       (f.IsLiteral ? $" = {f.GetRawConstantValue()}" : ""),
        EventInfo e => $"event {Name(e.EventHandlerType!)} {e.Name}",
        Type t => $"nested {TypeLine(t)}",
        _ => member.ToString() ?? member.Name,
    };

    private static string Accessor(MethodInfo accessor)
    {
        var isInit = accessor.ReturnParameter.GetRequiredCustomModifiers().Any(m => m.Name == "IsExternalInit");
        var name = accessor.Name.StartsWith("get_", StringComparison.Ordinal) ? "get" : isInit ? "init" : "set";
        return (accessor.IsFamily ? "protected " : "") + name + ";";
    }

    private static string Access(MethodBase method) => method.IsFamily || method.IsFamilyOrAssembly ? "protected " : "";

    private static string Modifiers(MethodInfo method)
    {
        if (method.IsStatic)
        {
            return "static ";
        }

        if (method.IsAbstract)
        {
            return "abstract ";
        }

        if (method.IsVirtual && !method.IsFinal)
        {
            return method.GetBaseDefinition() == method ? "virtual " : "override ";
        }

        return method.IsVirtual && method.GetBaseDefinition() != method ? "sealed override " : "";
    }

    private static string GenericArguments(MethodInfo method)
        => method.IsGenericMethodDefinition ? "<" + string.Join(", ", method.GetGenericArguments().Select(Name)) + ">" : "";

    private static string Parameters(MethodBase method)
        => string.Join(", ", method.GetParameters().Select(p =>
        {
            var text = new StringBuilder();
            if (p.IsOut)
            {
                text.Append("out ");
            }
            else if (p.ParameterType.IsByRef)
            {
                text.Append("ref ");
            }

            text.Append(Name(p.ParameterType)).Append(' ').Append(p.Name);
            if (p.HasDefaultValue)
            {
                text.Append(" = ").Append(p.DefaultValue switch { null => "null", string s => $"\"{s}\"", var v => v.ToString() });
            }

            return text.ToString();
        }));

    private static string Name(Type type)
    {
        if (type.IsByRef)
        {
            return Name(type.GetElementType()!);
        }

        if (type.IsArray)
        {
            return Name(type.GetElementType()!) + "[]";
        }

        if (type.IsGenericParameter)
        {
            return type.Name;
        }

        var name = (type.IsNested ? Name(type.DeclaringType!) + "." : type.Namespace + ".") + type.Name;
        if (!type.IsGenericType)
        {
            return name;
        }

        var tick = name.IndexOf('`', StringComparison.Ordinal);
        return (tick >= 0 ? name[..tick] : name) + "<" + string.Join(", ", type.GetGenericArguments().Select(Name)) + ">";
    }
}
