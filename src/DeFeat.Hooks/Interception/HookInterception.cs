using System.Linq.Expressions;
using System.Reflection;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Interception;

/// <summary>
/// An interceptor attached through TorchSharp's own forward (pre-)hooks, for any <c>nn.Module&lt;T1, ..., TResult&gt;</c>.
/// The hook delegates are built for the module's exact generic signature (expression trees), and the post hook
/// always returns the result it was given (TorchSharp replaces the result with whatever a post hook returns that is
/// not null, and a value-tuple result is never null). Disposing removes the hooks through TorchSharp's
/// <c>HookRemover</c>.
/// </summary>
internal sealed class HookInterception : IDisposable
{
    private static readonly MethodInfo OnInputMethod = typeof(IModuleInterceptor).GetMethod(nameof(IModuleInterceptor.OnInput))!;
    private static readonly MethodInfo OnOutputMethod = typeof(IModuleInterceptor).GetMethod(nameof(IModuleInterceptor.OnOutput))!;

    private readonly List<object> removers = [];

    public HookInterception(nn.Module module, ModuleSignature signature, IModuleInterceptor interceptor, bool input, bool output)
    {
        var hookable = signature.ModuleType.BaseType!;
        var hookTypes = hookable.GetGenericArguments();
        if (input)
        {
            removers.Add(Register(module, hookable, "register_forward_pre_hook", PreHook(hookTypes[0], signature, interceptor)));
        }

        if (output)
        {
            removers.Add(Register(module, hookable, "register_forward_hook", PostHook(hookTypes[1], interceptor)));
        }
    }

    public void Dispose()
    {
        foreach (var remover in removers)
        {
            remover.GetType().GetMethod("remove")!.Invoke(remover, null);
        }

        removers.Clear();
    }

    private static object Register(nn.Module module, Type hookable, string method, Delegate hook)
        => hookable.GetMethod(method, [hook.GetType()])!.Invoke(module, [hook])!;

    /// <summary>(module, a1..an) => replaced arguments, or the "keep" value (a1 for one argument, null otherwise).</summary>
    private static Delegate PreHook(Type hookType, ModuleSignature signature, IModuleInterceptor interceptor)
    {
        var invoke = hookType.GetMethod("Invoke")!;
        var parameters = invoke.GetParameters().Select(parameter => Expression.Parameter(parameter.ParameterType)).ToArray();
        var arguments = parameters[1..];
        var returnType = invoke.ReturnType;
        var replaced = Expression.Variable(typeof(object[]), "replaced");
        var boxed = Expression.NewArrayInit(typeof(object), arguments.Select(argument => Expression.Convert(argument, typeof(object))));
        var call = Expression.Call(Expression.Constant(interceptor, typeof(IModuleInterceptor)), OnInputMethod, boxed);

        Expression Unbox(int index) => Expression.Convert(Expression.ArrayIndex(replaced, Expression.Constant(index)), signature.ArgumentTypes[index]);

        Expression keep;
        Expression replace;
        if (arguments.Length == 1)
        {
            keep = arguments[0];
            replace = Unbox(0);
        }
        else
        {
            var tupleType = Nullable.GetUnderlyingType(returnType)!;
            var constructor = tupleType.GetConstructor(signature.ArgumentTypes)!;
            keep = Expression.Default(returnType);
            replace = Expression.Convert(Expression.New(constructor, arguments.Select((_, index) => Unbox(index))), returnType);
        }

        var body = Expression.Block(
            returnType,
            [replaced],
            Expression.Assign(replaced, call),
            Expression.Condition(Expression.Equal(replaced, Expression.Constant(null, typeof(object[]))), keep, replace, returnType));
        return Expression.Lambda(hookType, body, parameters).Compile();
    }

    /// <summary>(module, a1..an, result) => { interceptor.OnOutput(result); return result; }.</summary>
    private static Delegate PostHook(Type hookType, IModuleInterceptor interceptor)
    {
        var parameters = hookType.GetMethod("Invoke")!.GetParameters().Select(parameter => Expression.Parameter(parameter.ParameterType)).ToArray();
        var result = parameters[^1];
        var body = Expression.Block(
            Expression.Call(Expression.Constant(interceptor, typeof(IModuleInterceptor)), OnOutputMethod, Expression.Convert(result, typeof(object))),
            result);
        return Expression.Lambda(hookType, body, parameters).Compile();
    }
}
