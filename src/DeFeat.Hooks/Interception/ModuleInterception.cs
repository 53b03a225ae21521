using DeFeat.Hooks.Diagnostics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Interception;

/// <summary>
/// Attaches an <see cref="IModuleInterceptor"/> to the submodule at a path: by TorchSharp hook, or by a substitute in
/// the parent's slots (<see cref="SubstituteInterception"/>); <see cref="TapMode.Auto"/> picks what the model allows. Everything
/// is checked before anything is changed, so a failing attach leaves the model as it was.
/// </summary>
/// <remarks>
/// A hook records only <c>call(...)</c> invocations, and whether the parent's code invokes the submodule with
/// <c>call(...)</c> or <c>forward(...)</c> is decided only when it runs. So a hook is attached whenever it is asked for
/// (<see cref="TapMode.Hook"/>) or is all the model allows (<see cref="TapMode.Auto"/>), and the caller's first empty
/// read reports it, with the fix that attaching found (<see cref="Attachment.HookFix"/>). An attach-time reading of the
/// parent's IL (an earlier design) named the calling method a little sooner, but could prove a <c>forward(...)</c> call
/// only for receivers it could follow (not a value chosen in a branch, nor one reached through a helper or another
/// object), so the run-time message was needed anyway and is the one diagnosis.
/// </remarks>
internal static class ModuleInterception
{
    /// <summary>Attaches <paramref name="interceptor"/>; returns the attachment (dispose to detach), the mode used and, for a hook, the fix.</summary>
    /// <exception cref="ArgumentException">The submodule cannot be intercepted the requested way (the message says what to change).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="mode"/> is not a <see cref="TapMode"/> value.</exception>
    public static Attachment Attach(ModulePath target, TapMode mode, IModuleInterceptor interceptor, bool input, bool output, TapSite site)
    {
        if (!Enum.IsDefined(mode))
        {
            throw new ArgumentOutOfRangeException(site.Option, mode, $"The tap mode must be Auto, Hook, Wrapper or StandIn; got {mode}.");
        }

        var signature = ModuleSignature.Of(target.Module) ?? throw new ArgumentException(
            $"{site.Describe(target.Path)} names a {TypeNames.Of(target.Module.GetType())}, which is not an nn.Module<..., TResult> "
            + "with a typed forward; tap one of its children instead.",
            site.Option);
        if (mode != TapMode.Hook && SubstituteInterception.Find(target.Parent, target.Module) is { } existing)
        {
            return new Attachment(SubstituteInterception.Attach(target.Parent, target.Module, [], existing.Mode, signature, interceptor), existing.Mode, HookFix: null);
        }

        var slots = target.Parent is Sequential ? [] : ModuleSlot.FindAll(target.Parent, target.Module);
        var wrapperFits = slots.Count > 0 && slots.All(slot => slot.DeclaredType.IsAssignableFrom(signature.ModuleType));
        var standInObstacle = SubstituteTypes.StandInObstacle(target.Module.GetType(), signature);
        var standInFits = slots.Count > 0 && standInObstacle is null;
        var resolved = mode switch
        {
            TapMode.Wrapper when wrapperFits => TapMode.Wrapper,
            TapMode.StandIn when standInFits => TapMode.StandIn,
            TapMode.Wrapper or TapMode.StandIn => throw new ArgumentException(CannotSubstituteMessage(target, signature, slots, site, mode), site.Option),
            TapMode.Auto when wrapperFits => TapMode.Wrapper,
            TapMode.Auto when standInFits => TapMode.StandIn,
            _ => TapMode.Hook,
        };
        if (resolved != TapMode.Hook)
        {
            return new Attachment(SubstituteInterception.Attach(target.Parent, target.Module, slots, resolved, signature, interceptor), resolved, HookFix: null);
        }

        var substitute = wrapperFits ? "wrapper" : standInFits ? "stand-in" : null;
        return new Attachment(
            new HookInterception(target.Module, signature, interceptor, input, output), TapMode.Hook, HookFix(target, signature, slots, substitute, standInObstacle));
    }

    /// <summary>
    /// What to change when a hook records nothing because the parent's code invokes the submodule with
    /// <c>forward(...)</c>: TapMode.Auto where a <paramref name="substitute"/> fits (only an explicit TapMode.Hook gets
    /// a hook then), else the one-line model change.
    /// </summary>
    private static string HookFix(ModulePath target, ModuleSignature signature, IReadOnlyList<ModuleSlot> slots, string? substitute, string? standInObstacle)
    {
        var caller = TypeNames.Of(Caller(target).GetType());
        var orCall = $"invoke it with .call(...) instead of .forward(...) in {caller}";
        if (target.Parent is Sequential)
        {
            return "Its parent is a Sequential, which invokes its items with .call(...): run the model before reading.";
        }

        if (slots.Count == 0)
        {
            return $"No field or list item of {TypeNames.Of(target.Parent.GetType())} holds it, so only a hook could be attached: keep it in a "
                + $"field of its parent, or {orCall}.";
        }

        if (substitute is not null)
        {
            return $"If {caller} invokes it with .forward(...), the hook never records. Fix: tap it with TapMode.Auto (the default), which "
                + $"records both through a {substitute} in {slots[0].Describe()}, or {orCall}.";
        }

        var slot = slots[0];
        var declaredAs = slot.IsElement
            ? $"the items of {TypeNames.Of(slot.Owner.GetType())} are declared as {TypeNames.Of(slot.DeclaredType)}"
            : $"{slot.Describe()} is declared as {TypeNames.Of(slot.DeclaredType)}";
        var fix = slot.IsElement
            ? $"declare the container's item type as {TypeNames.Of(signature.ModuleType)}"
            : $"declare the field '{slot.Field.Name}' as {TypeNames.Of(signature.ModuleType)}";
        return $"{char.ToUpperInvariant(declaredAs[0])}{declaredAs[1..]}, and its {TypeNames.Of(target.Module.GetType())} "
            + $"{standInObstacle ?? "cannot be stood in for"}, so neither a wrapper nor a stand-in fits there and only a hook "
            + $"could be attached, which never records if {caller} invokes it with .forward(...). One-line fix in the model: {fix}, or "
            + $"{orCall}. Or tap its parent instead.";
    }

    /// <summary>The module whose code invokes the submodule: its parent, or for an item of a TorchSharp container (ModuleList, ModuleDict) the container's owner.</summary>
    private static nn.Module Caller(ModulePath target)
        => target.Parent.GetType().Assembly == typeof(nn.Module).Assembly && target.GrandParent is { } owner ? owner : target.Parent;

    private static string CannotSubstituteMessage(ModulePath target, ModuleSignature signature, IReadOnlyList<ModuleSlot> slots, TapSite site, TapMode mode)
    {
        var what = mode == TapMode.Wrapper ? "a wrapper (TapMode.Wrapper)" : "a stand-in (TapMode.StandIn)";
        var childType = TypeNames.Of(target.Module.GetType());
        if (slots.Count == 0)
        {
            return $"{site.Describe(target.Path)}: no field of {TypeNames.Of(target.Parent.GetType())} holds the submodule '{target.ChildName}' "
                + $"({childType}), so {what} has nowhere to go (it may be created on the fly, or its parent is a Sequential, which "
                + "invokes its items with call(...)). Use TapMode.Auto (the default) or TapMode.Hook.";
        }

        var standInObstacle = SubstituteTypes.StandInObstacle(target.Module.GetType(), signature);
        if (mode == TapMode.Wrapper)
        {
            var unfit = slots.First(slot => !slot.DeclaredType.IsAssignableFrom(signature.ModuleType));
            return $"{site.Describe(target.Path)}: {unfit.Describe()} is declared as {TypeNames.Of(unfit.DeclaredType)}, which {what} cannot "
                + $"replace (a wrapper is an {TypeNames.Of(signature.ModuleType)}). Use TapMode.Auto (the default), which "
                + (standInObstacle is null ? $"puts a stand-in subclass of {childType} there" : "picks what the model allows")
                + $", or declare it as {TypeNames.Of(signature.ModuleType)}.";
        }

        return $"{site.Describe(target.Path)}: its class {childType} {standInObstacle}, so {what} cannot be derived from it. Use TapMode.Auto "
            + "(the default), which picks what the model allows.";
    }

    /// <summary>An attached interceptor.</summary>
    /// <param name="Handle">Dispose to detach (removes the hook, or restores the slots when it was the substitute's last interceptor).</param>
    /// <param name="Mode">How it is attached: Hook, Wrapper or StandIn.</param>
    /// <param name="HookFix">
    /// For a hook, what to change if it records nothing because the parent invokes the submodule with
    /// <c>forward(...)</c> (a sentence for the caller's empty-read message); null for a substitute.
    /// </param>
    internal sealed record Attachment(IDisposable Handle, TapMode Mode, string? HookFix);
}
