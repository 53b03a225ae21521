// This type lives in the runtime's namespace, not in one mirroring its folder: the runtime recognises it by its full
// name only. DeFeat.Hooks puts it on the dynamic assembly of generated substitute types (SubstituteTypes) so that
// they may derive from a model's non-public classes and call DeFeat.Hooks' internal SubstituteInterception.
namespace System.Runtime.CompilerServices;

/// <summary>Lets the assembly it is applied to access the non-public types and members of the named assembly.</summary>
/// <param name="assemblyName">The simple name of the assembly whose access checks are skipped.</param>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
internal sealed class IgnoresAccessChecksToAttribute(string assemblyName) : Attribute
{
    /// <summary>The simple name of the assembly whose access checks are skipped.</summary>
    public string AssemblyName { get; } = assemblyName;
}
