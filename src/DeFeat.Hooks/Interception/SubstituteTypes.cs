using System.Collections.Concurrent;
using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.CompilerServices;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Interception;

/// <summary>
/// Generates (System.Reflection.Emit, once per type and cached) the classes of the modules put in a parent's slot in
/// place of a submodule. Each overrides the typed <c>forward</c> to box its arguments and call
/// <see cref="SubstituteInterception.Forward"/> on the substitution held in its field <see cref="InterceptionFieldName"/>:
/// <list type="bullet">
/// <item><b>Stand-in</b>: derives from the submodule's own (non-sealed) class, so it fits a field declared with that
/// concrete class; it is created without running a constructor and shares the original's state (see
/// <see cref="SubstituteInterception"/>).</item>
/// <item><b>Wrapper</b>: derives from the TorchSharp base <c>nn.Module&lt;T1, ..., TResult&gt;</c> and is constructed
/// normally (its own, empty native module), for a field declared with that base type.</item>
/// </list>
/// The dynamic assemblies skip access checks to the model's assembly, so non-public model classes work too.
/// </summary>
internal static class SubstituteTypes
{
    /// <summary>The name of the generated field that holds the <see cref="SubstituteInterception"/>.</summary>
    public const string InterceptionFieldName = "<DeFeat>interception";

    private static readonly ConcurrentDictionary<(Type Base, bool StandIn), Type> Cache = new();
    private static readonly ConcurrentDictionary<Assembly, ModuleBuilder> Builders = new();
    private static readonly MethodInfo InvokeMethod = typeof(SubstituteInterception).GetMethod(nameof(SubstituteInterception.Forward))!;
    private static readonly ConstructorInfo IgnoresAccessChecks = typeof(IgnoresAccessChecksToAttribute).GetConstructor([typeof(string)])!;
    private static int counter;

    /// <summary>
    /// Why no stand-in can be derived from <paramref name="moduleType"/> (e.g. "is sealed"), or null when one can:
    /// the class must not be sealed and its <c>forward</c> override must not be sealed.
    /// </summary>
    public static string? StandInObstacle(Type moduleType, ModuleSignature signature)
    {
        if (moduleType.IsSealed)
        {
            return "is sealed";
        }

        var overrider = MostDerivedForward(moduleType, signature);
        return overrider is null ? "does not override forward" : overrider.IsFinal ? "seals its forward override" : null;
    }

    /// <summary>The stand-in class for <paramref name="moduleType"/> (see <see cref="StandInObstacle"/> for when it exists).</summary>
    public static Type StandIn(Type moduleType, ModuleSignature signature)
        => Cache.GetOrAdd((moduleType, true), key => Emit(key.Base, signature, standIn: true));

    /// <summary>The wrapper class for modules of <paramref name="signature"/>; its constructor takes the module name.</summary>
    public static Type Wrapper(ModuleSignature signature)
        => Cache.GetOrAdd((signature.ModuleType, false), key => Emit(key.Base, signature, standIn: false));

    /// <summary>Puts <paramref name="interception"/> into the generated field of <paramref name="substitute"/>.</summary>
    public static void SetInterception(nn.Module substitute, SubstituteInterception interception)
        => substitute.GetType().GetField(InterceptionFieldName, BindingFlags.Instance | BindingFlags.NonPublic)!.SetValue(substitute, interception);

    private static MethodInfo? MostDerivedForward(Type moduleType, ModuleSignature signature)
    {
        var definition = Abstract(signature);
        for (var type = moduleType; type is not null && type != signature.ModuleType; type = type.BaseType)
        {
            var found = type.GetMethod("forward", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly, signature.ArgumentTypes);
            if (found is not null && found.IsVirtual && found.GetBaseDefinition() == definition)
            {
                return found;
            }
        }

        return null;
    }

    private static MethodInfo Abstract(ModuleSignature signature) => signature.ModuleType.GetMethod("forward", signature.ArgumentTypes)!;

    private static Type Emit(Type baseType, ModuleSignature signature, bool standIn)
    {
        var module = Builders.GetOrAdd(baseType.Assembly, CreateModule);
        var name = $"DeFeat.Substitutes.{(standIn ? "StandIn" : "Wrapper")}{Interlocked.Increment(ref counter)}_{baseType.Name.Replace('`', '_')}";
        var type = module.DefineType(name, TypeAttributes.Public | TypeAttributes.Sealed | TypeAttributes.Class, baseType);
        var interception = type.DefineField(InterceptionFieldName, typeof(SubstituteInterception), FieldAttributes.Private);
        if (standIn)
        {
            // Never run: stand-ins are created uninitialised. A body that only returns keeps the base's constructors out of it.
            type.DefineConstructor(MethodAttributes.Private, CallingConventions.Standard, Type.EmptyTypes).GetILGenerator().Emit(OpCodes.Ret);
        }
        else
        {
            var baseConstructor = baseType.GetConstructor(BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public, [typeof(string)])!;
            var il = type.DefineConstructor(MethodAttributes.Public, CallingConventions.Standard, [typeof(string)]).GetILGenerator();
            il.Emit(OpCodes.Ldarg_0);
            il.Emit(OpCodes.Ldarg_1);
            il.Emit(OpCodes.Call, baseConstructor);
            il.Emit(OpCodes.Ret);
        }

        EmitForward(type, interception, signature);
        return type.CreateType();
    }

    private static void EmitForward(TypeBuilder type, FieldInfo interception, ModuleSignature signature)
    {
        var arguments = signature.ArgumentTypes;
        var method = type.DefineMethod("forward", MethodAttributes.Public | MethodAttributes.Virtual | MethodAttributes.HideBySig, signature.ResultType, arguments);
        var il = method.GetILGenerator();
        il.Emit(OpCodes.Ldarg_0);
        il.Emit(OpCodes.Ldfld, interception);
        il.Emit(OpCodes.Ldc_I4, arguments.Length);
        il.Emit(OpCodes.Newarr, typeof(object));
        for (var index = 0; index < arguments.Length; index++)
        {
            il.Emit(OpCodes.Dup);
            il.Emit(OpCodes.Ldc_I4, index);
            il.Emit(OpCodes.Ldarg, index + 1);
            if (arguments[index].IsValueType)
            {
                il.Emit(OpCodes.Box, arguments[index]);
            }

            il.Emit(OpCodes.Stelem_Ref);
        }

        il.Emit(OpCodes.Callvirt, InvokeMethod);
        il.Emit(OpCodes.Unbox_Any, signature.ResultType);
        il.Emit(OpCodes.Ret);
        type.DefineMethodOverride(method, Abstract(signature));
    }

    private static ModuleBuilder CreateModule(Assembly target)
    {
        var name = $"DeFeat.Substitutes.{target.GetName().Name}";
        var assembly = AssemblyBuilder.DefineDynamicAssembly(new AssemblyName(name), AssemblyBuilderAccess.Run);
        foreach (var accessed in new[] { target, typeof(SubstituteTypes).Assembly, typeof(nn.Module).Assembly }.Distinct())
        {
            assembly.SetCustomAttribute(new CustomAttributeBuilder(IgnoresAccessChecks, [accessed.GetName().Name!]));
        }

        return assembly.DefineDynamicModule(name);
    }
}
