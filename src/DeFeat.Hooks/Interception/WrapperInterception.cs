using System.Reflection;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Interception;

/// <summary>
/// An interceptor attached by swapping every field of the parent module that holds the submodule (directly, or
/// through wrappers already put there) for a transparent wrapper (<see cref="InterceptingModules"/>) that delegates
/// to what the field held, so that parents calling <c>child.forward(...)</c> are seen too. Registered submodules are
/// not touched. Disposing writes the previous value back into those fields and disposes the wrapper; if another
/// wrapper has been put over this one meanwhile, this one is left in the chain as a pure pass-through instead.
/// </summary>
internal sealed class WrapperInterception : IDisposable
{
    private readonly ModulePath target;
    private readonly FieldInfo[] fields;
    private readonly nn.Module previous;
    private nn.Module? wrapper;

    public WrapperInterception(ModulePath target, ModuleSignature signature, IModuleInterceptor interceptor, string argumentName)
    {
        this.target = target;
        fields = FieldsHolding(target.Parent, target.Module);
        if (fields.Length == 0)
        {
            throw new ArgumentException(
                $"{argumentName} '{target.Path}': no field of {target.Parent.GetType().Name} holds the submodule "
                + $"'{target.ChildName}', so wrapper mode cannot swap it (it may live in a list or be created on the fly). "
                + "Use TapMode.Hook and have the parent invoke it with call(...).",
                argumentName);
        }

        previous = (nn.Module)fields[0].GetValue(target.Parent)!;
        var created = InterceptingModules.Create(previous, signature, interceptor, target.Path);
        var unfit = fields.FirstOrDefault(field => !field.FieldType.IsAssignableFrom(created.GetType()));
        if (unfit is not null)
        {
            created.Dispose();
            throw new ArgumentException(
                $"{argumentName} '{target.Path}': the field '{unfit.Name}' of {target.Parent.GetType().Name} is declared as "
                + $"{unfit.FieldType.Name}, which a wrapper cannot replace; declare it as {Describe(signature)} (or use "
                + "TapMode.Hook and have the parent invoke it with call(...)).",
                argumentName);
        }

        foreach (var field in fields)
        {
            field.SetValue(target.Parent, created);
        }

        wrapper = created;
    }

    public void Dispose()
    {
        if (wrapper is null)
        {
            return;
        }

        if (fields.All(field => ReferenceEquals(field.GetValue(target.Parent), wrapper)))
        {
            foreach (var field in fields)
            {
                field.SetValue(target.Parent, previous);
            }

            wrapper.Dispose();
        }
        else
        {
            ((InterceptingModules.IInterceptingWrapper)wrapper).Active = false;
        }

        wrapper = null;
    }

    private static FieldInfo[] FieldsHolding(nn.Module parent, nn.Module child)
    {
        var found = new List<FieldInfo>();
        for (var type = parent.GetType(); type is not null && type != typeof(nn.Module); type = type.BaseType)
        {
            found.AddRange(type
                .GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly)
                .Where(field => !field.FieldType.IsValueType && Leads(field.GetValue(parent), child)));
        }

        return [.. found];
    }

    /// <summary>Whether <paramref name="value"/> is <paramref name="child"/> or a chain of wrappers ending at it.</summary>
    private static bool Leads(object? value, nn.Module child)
    {
        while (value is InterceptingModules.IInterceptingWrapper wrapper && !ReferenceEquals(value, child))
        {
            value = wrapper.Wrapped;
        }

        return ReferenceEquals(value, child);
    }

    private static string Describe(ModuleSignature signature)
        => "nn.Module<" + string.Join(", ", signature.ArgumentTypes.Append(signature.ResultType).Select(type => type.Name)) + ">";
}
