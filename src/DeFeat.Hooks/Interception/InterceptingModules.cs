using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Interception;

/// <summary>
/// Transparent wrappers put in place of a submodule by <see cref="WrapperInterception"/>: each forward hands the
/// arguments to the interceptor (which may replace them), invokes the wrapped module with <c>call(...)</c> (so its
/// own hooks still run) and reports the result. The wrapper holds the wrapped module only through a delegate and an
/// <see cref="object"/> field, never a module-typed field, so TorchSharp does not register it as (nor dispose it with)
/// a child of the wrapper; it stays registered in its original parent.
/// </summary>
internal static class InterceptingModules
{
    /// <summary>
    /// A wrapper as seen by <see cref="WrapperInterception"/>: the module it delegates to (kept in an
    /// <see cref="object"/> field, so TorchSharp never registers it as a child) and whether it still intercepts.
    /// </summary>
    internal interface IInterceptingWrapper
    {
        /// <summary>The module it delegates to: the original submodule or another wrapper.</summary>
        nn.Module Wrapped { get; }

        /// <summary>False once its interception is disposed while another wrapper still wraps it: it then only delegates.</summary>
        bool Active { get; set; }
    }

    /// <summary>Creates the wrapper matching <paramref name="signature"/> (one to three forward arguments).</summary>
    public static nn.Module Create(nn.Module inner, ModuleSignature signature, IModuleInterceptor interceptor, string path)
    {
        var definition = signature.ArgumentTypes.Length switch
        {
            1 => typeof(Intercepting<,>),
            2 => typeof(Intercepting<,,>),
            3 => typeof(Intercepting<,,,>),
            _ => throw new ArgumentException(
                $"path '{path}': wrapper mode supports modules with 1 to 3 forward arguments; {inner.GetType().Name} has "
                + $"{signature.ArgumentTypes.Length}. Use TapMode.Hook and have the parent invoke it with call(...).",
                nameof(path)),
        };
        var type = definition.MakeGenericType([.. signature.ArgumentTypes, signature.ResultType]);
        return (nn.Module)Activator.CreateInstance(type, inner, interceptor)!;
    }

    private static object?[] Arguments(IInterceptingWrapper wrapper, IModuleInterceptor interceptor, params object?[] arguments)
        => wrapper.Active ? interceptor.OnInput(arguments) ?? arguments : arguments;

    private static void Report(IInterceptingWrapper wrapper, IModuleInterceptor interceptor, object? result)
    {
        if (wrapper.Active)
        {
            interceptor.OnOutput(result);
        }
    }

    private sealed class Intercepting<T, TResult>(nn.Module<T, TResult> inner, IModuleInterceptor interceptor)
        : nn.Module<T, TResult>("InterceptingWrapper"), IInterceptingWrapper
    {
        private readonly Func<T, TResult> invoke = inner.call;
        private readonly object wrapped = inner;

        public nn.Module Wrapped => (nn.Module)wrapped;

        public bool Active { get; set; } = true;

        public override TResult forward(T input)
        {
            var arguments = Arguments(this, interceptor, input);
            var result = invoke((T)arguments[0]!);
            Report(this, interceptor, result);
            return result;
        }
    }

    private sealed class Intercepting<T1, T2, TResult>(nn.Module<T1, T2, TResult> inner, IModuleInterceptor interceptor)
        : nn.Module<T1, T2, TResult>("InterceptingWrapper"), IInterceptingWrapper
    {
        private readonly Func<T1, T2, TResult> invoke = inner.call;
        private readonly object wrapped = inner;

        public nn.Module Wrapped => (nn.Module)wrapped;

        public bool Active { get; set; } = true;

        public override TResult forward(T1 input1, T2 input2)
        {
            var arguments = Arguments(this, interceptor, input1, input2);
            var result = invoke((T1)arguments[0]!, (T2)arguments[1]!);
            Report(this, interceptor, result);
            return result;
        }
    }

    private sealed class Intercepting<T1, T2, T3, TResult>(nn.Module<T1, T2, T3, TResult> inner, IModuleInterceptor interceptor)
        : nn.Module<T1, T2, T3, TResult>("InterceptingWrapper"), IInterceptingWrapper
    {
        private readonly Func<T1, T2, T3, TResult> invoke = inner.call;
        private readonly object wrapped = inner;

        public nn.Module Wrapped => (nn.Module)wrapped;

        public bool Active { get; set; } = true;

        public override TResult forward(T1 input1, T2 input2, T3 input3)
        {
            var arguments = Arguments(this, interceptor, input1, input2, input3);
            var result = invoke((T1)arguments[0]!, (T2)arguments[1]!, (T3)arguments[2]!);
            Report(this, interceptor, result);
            return result;
        }
    }
}
