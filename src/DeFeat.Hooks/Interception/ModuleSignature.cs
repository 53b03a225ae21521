using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Interception;

/// <summary>
/// The closed generic TorchSharp base of a module, <c>nn.Module&lt;T1, ..., Tn, TResult&gt;</c>: its argument types and
/// result type, read by reflection so hooks can be attached to any generic module type.
/// </summary>
internal sealed class ModuleSignature
{
    private static readonly Type[] Definitions =
    [
        typeof(nn.Module<,>), typeof(nn.Module<,,>), typeof(nn.Module<,,,>), typeof(nn.Module<,,,,>),
        typeof(nn.Module<,,,,,>), typeof(nn.Module<,,,,,,>),
    ];

    private ModuleSignature(Type moduleType, Type[] argumentTypes, Type resultType)
    {
        ModuleType = moduleType;
        ArgumentTypes = argumentTypes;
        ResultType = resultType;
    }

    /// <summary>The closed base type, e.g. <c>nn.Module&lt;Tensor[], Tensor[]&gt;</c>.</summary>
    public Type ModuleType { get; }

    /// <summary>T1..Tn, the forward argument types.</summary>
    public Type[] ArgumentTypes { get; }

    /// <summary>TResult, the forward result type.</summary>
    public Type ResultType { get; }

    /// <summary>Reads the signature of <paramref name="module"/>, or null when it is not an <c>nn.Module&lt;..., TResult&gt;</c>.</summary>
    public static ModuleSignature? Of(nn.Module module)
    {
        for (var type = module.GetType(); type is not null; type = type.BaseType)
        {
            if (type.IsGenericType && Definitions.Contains(type.GetGenericTypeDefinition()))
            {
                var arguments = type.GetGenericArguments();
                return new ModuleSignature(type, arguments[..^1], arguments[^1]);
            }
        }

        return null;
    }
}
