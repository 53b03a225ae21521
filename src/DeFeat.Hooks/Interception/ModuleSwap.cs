using System.Linq.Expressions;
using System.Reflection;
using System.Runtime.CompilerServices;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Interception;

/// <summary>
/// A submodule replaced, in every slot of its parent that holds it (<see cref="ModuleSlot"/>), by a recording
/// substitute: a wrapper (<see cref="TapMode.Wrapper"/>) or a stand-in (<see cref="TapMode.StandIn"/>). One swap per
/// (parent, submodule) carries all the interceptors attached to that submodule, so taps and relays on the same
/// module share one substitute and can be removed in any order; the slots are restored when the last one is removed.
/// </summary>
/// <remarks>
/// <para>
/// A wrapper invokes the submodule with <c>call(...)</c> (its hooks run). A stand-in is an instance of a generated
/// subclass of the submodule's class, created without running a constructor, with a shallow copy of the original's
/// fields: it shares the native handle, the registered parameter/buffer/submodule dictionaries and the hook
/// dictionaries (so <c>stand_in.call(x)</c> runs the original's hooks once), and is taken off the finalizer queue and
/// never disposed, so nothing is freed twice. Its <c>forward</c> re-reads the original's fields, runs the
/// interceptors and invokes the original's own <c>forward</c>, so every write a forward makes lands in the original.
/// </para>
/// <para>
/// Neither substitute is registered anywhere: <c>named_modules()</c>, <c>state_dict()</c>, <c>parameters()</c>,
/// <c>to(...)</c>, <c>train()</c> and <c>Dispose()</c> of the model see the original objects only.
/// </para>
/// </remarks>
internal sealed class ModuleSwap
{
    private static readonly ConditionalWeakTable<nn.Module, List<ModuleSwap>> ByParent = new();
    private static readonly Lock Gate = new();

    private readonly nn.Module parent;
    private readonly nn.Module original;
    private readonly IReadOnlyList<ModuleSlot> slots;
    private readonly nn.Module substitute;
    private readonly InterceptedForward forwarder;

    private ModuleSwap(nn.Module parent, nn.Module original, IReadOnlyList<ModuleSlot> slots, TapMode mode, ModuleSignature signature)
    {
        this.parent = parent;
        this.original = original;
        this.slots = slots;
        Mode = mode;
        if (mode == TapMode.StandIn)
        {
            var type = SubstituteTypes.StandIn(original.GetType(), signature);
            substitute = (nn.Module)RuntimeHelpers.GetUninitializedObject(type);
            GC.SuppressFinalize(substitute);
            var copy = FieldCopy(original.GetType());
            copy(original, substitute);
            forwarder = new InterceptedForward(Invoker(original, signature, "forward"), () => copy(original, substitute));
        }
        else
        {
            substitute = (nn.Module)Activator.CreateInstance(SubstituteTypes.Wrapper(signature), ["DeFeatWrapper"])!;
            forwarder = new InterceptedForward(Invoker(original, signature, "call"), refresh: null);
        }

        SubstituteTypes.SetForwarder(substitute, forwarder);
    }

    /// <summary>How the submodule is substituted: <see cref="TapMode.Wrapper"/> or <see cref="TapMode.StandIn"/>.</summary>
    public TapMode Mode { get; }

    /// <summary>The swap already made for <paramref name="original"/> in <paramref name="parent"/>, or null.</summary>
    public static ModuleSwap? Find(nn.Module parent, nn.Module original)
    {
        lock (Gate)
        {
            return ByParent.TryGetValue(parent, out var swaps) ? swaps.FirstOrDefault(swap => ReferenceEquals(swap.original, original)) : null;
        }
    }

    /// <summary>
    /// Attaches <paramref name="interceptor"/> to <paramref name="original"/>: joins the existing swap, or puts a new
    /// substitute of kind <paramref name="mode"/> into every one of <paramref name="slots"/>. Disposing the result
    /// detaches it (and restores the slots when it was the last).
    /// </summary>
    public static IDisposable Attach(
        nn.Module parent, nn.Module original, IReadOnlyList<ModuleSlot> slots, TapMode mode, ModuleSignature signature, IModuleInterceptor interceptor)
    {
        lock (Gate)
        {
            var swaps = ByParent.GetOrCreateValue(parent);
            var swap = swaps.FirstOrDefault(existing => ReferenceEquals(existing.original, original));
            if (swap is null)
            {
                swap = new ModuleSwap(parent, original, slots, mode, signature);
                foreach (var slot in slots)
                {
                    slot.Set(swap.substitute);
                }

                swaps.Add(swap);
            }

            swap.forwarder.Interceptors.Add(interceptor);
            return new Membership(swap, interceptor);
        }
    }

    private void Detach(IModuleInterceptor interceptor)
    {
        lock (Gate)
        {
            if (!forwarder.Interceptors.Remove(interceptor) || forwarder.Interceptors.Count > 0)
            {
                return;
            }

            var restored = true;
            foreach (var slot in slots)
            {
                if (ReferenceEquals(slot.Get(), substitute))
                {
                    slot.Set(original);
                }
                else
                {
                    restored = false; // someone else replaced our substitute: it stays a pure pass-through where it is
                }
            }

            if (ByParent.TryGetValue(parent, out var swaps))
            {
                swaps.Remove(this);
            }

            if (restored && Mode == TapMode.Wrapper)
            {
                substitute.Dispose();
            }
        }
    }

    /// <summary>(boxed arguments) =&gt; (object)target.method(args...), with <c>forward</c> dispatched virtually.</summary>
    private static Func<object?[], object?> Invoker(nn.Module target, ModuleSignature signature, string method)
    {
        var arguments = Expression.Parameter(typeof(object?[]), "arguments");
        var typed = signature.ArgumentTypes.Select((type, index) => Expression.Convert(Expression.ArrayIndex(arguments, Expression.Constant(index)), type));
        var call = Expression.Call(Expression.Constant(target, signature.ModuleType), signature.ModuleType.GetMethod(method, signature.ArgumentTypes)!, typed);
        return Expression.Lambda<Func<object?[], object?>>(Expression.Convert(call, typeof(object)), arguments).Compile();
    }

    /// <summary>(source, destination) =&gt; copies every instance field of <paramref name="type"/> and its bases.</summary>
    private static Action<object, object> FieldCopy(Type type)
    {
        var fields = new List<FieldInfo>();
        for (var current = type; current is not null; current = current.BaseType)
        {
            fields.AddRange(current.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly));
        }

        return (source, destination) =>
        {
            foreach (var field in fields)
            {
                field.SetValue(destination, field.GetValue(source));
            }
        };
    }

    private sealed class Membership(ModuleSwap swap, IModuleInterceptor interceptor) : IDisposable
    {
        private ModuleSwap? attached = swap;

        public void Dispose()
        {
            attached?.Detach(interceptor);
            attached = null;
        }
    }
}
