using System.Linq.Expressions;
using System.Reflection;
using System.Runtime.CompilerServices;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Interception;

/// <summary>
/// A submodule replaced, in every slot of its parent that holds it (<see cref="ModuleSlot"/>), by a substitute whose
/// <c>forward</c> runs the attached interceptors around the submodule: a wrapper (<see cref="TapMode.Wrapper"/>) or a
/// stand-in (<see cref="TapMode.StandIn"/>). One substitution per (parent, submodule) carries all the interceptors
/// attached to that submodule, in attachment order, so taps and relays on the same module share one substitute and can
/// be removed in any order; the slots are restored when the last one is removed.
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
internal sealed class SubstituteInterception
{
    private static readonly ConditionalWeakTable<nn.Module, List<SubstituteInterception>> ByParent = new();
    private static readonly Lock Gate = new();

    private readonly nn.Module parent;
    private readonly nn.Module original;
    private readonly IReadOnlyList<ModuleSlot> slots;
    private readonly nn.Module substitute;
    private readonly Func<object?[], object?> invoke;
    private readonly Action? refresh;
    private IModuleInterceptor[] interceptors = [];

    private SubstituteInterception(nn.Module parent, nn.Module original, IReadOnlyList<ModuleSlot> slots, TapMode mode, ModuleSignature signature)
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
            invoke = Invoker(original, signature, "forward");
            refresh = () => copy(original, substitute);
        }
        else
        {
            substitute = (nn.Module)Activator.CreateInstance(SubstituteTypes.Wrapper(signature), ["DeFeatWrapper"])!;
            invoke = Invoker(original, signature, "call");
        }

        SubstituteTypes.SetInterception(substitute, this);
    }

    /// <summary>How the submodule is substituted: <see cref="TapMode.Wrapper"/> or <see cref="TapMode.StandIn"/>.</summary>
    public TapMode Mode { get; }

    /// <summary>The substitution already made for <paramref name="original"/> in <paramref name="parent"/>, or null.</summary>
    public static SubstituteInterception? Find(nn.Module parent, nn.Module original)
    {
        lock (Gate)
        {
            return ByParent.TryGetValue(parent, out var substitutions) ? substitutions.FirstOrDefault(substitution => ReferenceEquals(substitution.original, original)) : null;
        }
    }

    /// <summary>
    /// Attaches <paramref name="interceptor"/> to <paramref name="original"/>: joins the existing substitution, or puts a new
    /// substitute of kind <paramref name="mode"/> into every one of <paramref name="slots"/>. Disposing the result
    /// detaches it (and restores the slots when it was the last).
    /// </summary>
    public static IDisposable Attach(
        nn.Module parent, nn.Module original, IReadOnlyList<ModuleSlot> slots, TapMode mode, ModuleSignature signature, IModuleInterceptor interceptor)
    {
        lock (Gate)
        {
            var substitutions = ByParent.GetOrCreateValue(parent);
            var substitution = substitutions.FirstOrDefault(existing => ReferenceEquals(existing.original, original));
            if (substitution is null)
            {
                substitution = new SubstituteInterception(parent, original, slots, mode, signature);
                foreach (var slot in slots)
                {
                    slot.Set(substitution.substitute);
                }

                substitutions.Add(substitution);
            }

            substitution.interceptors = [.. substitution.interceptors, interceptor];
            return new Membership(substitution, interceptor);
        }
    }

    /// <summary>
    /// The body of the substitute's <c>forward</c> (generated by <see cref="SubstituteTypes"/>): each interceptor sees
    /// the arguments as the previous one left them and may replace them, the submodule runs, then each interceptor
    /// sees the result.
    /// </summary>
    /// <param name="arguments">The boxed forward arguments, in order.</param>
    /// <returns>The submodule's boxed result.</returns>
    public object? Forward(object?[] arguments)
    {
        refresh?.Invoke();
        var attached = interceptors;
        foreach (var interceptor in attached)
        {
            arguments = interceptor.OnInput(arguments) ?? arguments;
        }

        var result = invoke(arguments);
        foreach (var interceptor in attached)
        {
            interceptor.OnOutput(result);
        }

        return result;
    }

    private void Detach(IModuleInterceptor interceptor)
    {
        lock (Gate)
        {
            var remaining = interceptors.Where(member => !ReferenceEquals(member, interceptor)).ToArray();
            var removed = remaining.Length != interceptors.Length;
            interceptors = remaining;
            if (!removed || remaining.Length > 0)
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

            if (ByParent.TryGetValue(parent, out var substitutions))
            {
                substitutions.Remove(this);
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

    private sealed class Membership(SubstituteInterception substitution, IModuleInterceptor interceptor) : IDisposable
    {
        private SubstituteInterception? attached = substitution;

        public void Dispose()
        {
            attached?.Detach(interceptor);
            attached = null;
        }
    }
}
