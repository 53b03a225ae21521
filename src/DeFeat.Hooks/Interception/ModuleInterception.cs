using DeFeat.Hooks.Recording;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Interception;

/// <summary>Attaches an <see cref="IModuleInterceptor"/> to the submodule at a path, by hook or by wrapper.</summary>
internal static class ModuleInterception
{
    public static IDisposable Attach(ModulePath target, TapMode mode, IModuleInterceptor interceptor, bool input, bool output, string argumentName)
    {
        var signature = ModuleSignature.Of(target.Module) ?? throw new ArgumentException(
            $"{argumentName} '{target.Path}' names a {target.Module.GetType().Name}, which is not an nn.Module<..., TResult> "
            + "with a typed forward; tap one of its children instead.",
            argumentName);
        return mode switch
        {
            TapMode.Hook => new HookInterception(target.Module, signature, interceptor, input, output),
            TapMode.Wrapper => new WrapperInterception(target, signature, interceptor, argumentName),
            _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, $"{nameof(mode)} must be Hook or Wrapper; got {mode}."),
        };
    }
}
