using DeFeat.Hooks.Diagnostics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Interception;

/// <summary>
/// Attaches an <see cref="IModuleInterceptor"/> to the submodule at a path: by TorchSharp hook, or by a substitute in
/// the parent's slots (<see cref="ModuleSwap"/>); <see cref="TapMode.Auto"/> picks what the model allows. Everything
/// is checked before anything is changed, so a failing attach leaves the model as it was.
/// </summary>
internal static class ModuleInterception
{
    /// <summary>Attaches <paramref name="interceptor"/>; returns the attachment (dispose to detach) and the mode used.</summary>
    /// <exception cref="ArgumentException">The submodule cannot be intercepted the requested way (the message says what to change).</exception>
    public static (IDisposable Attachment, TapMode Mode) Attach(
        ModulePath target, TapMode mode, IModuleInterceptor interceptor, bool input, bool output, TapSite site)
    {
        var signature = ModuleSignature.Of(target.Module) ?? throw new ArgumentException(
            $"{site.Describe(target.Path)} names a {TypeNames.Of(target.Module.GetType())}, which is not an nn.Module<..., TResult> "
            + "with a typed forward; tap one of its children instead.",
            site.Option);
        var resolved = Resolve(target, mode, signature, site);
        if (resolved.Mode == TapMode.Hook)
        {
            return (new HookInterception(target.Module, signature, interceptor, input, output), TapMode.Hook);
        }

        return (ModuleSwap.Attach(target.Parent, target.Module, resolved.Slots, resolved.Mode, signature, interceptor), resolved.Mode);
    }

    private static (TapMode Mode, IReadOnlyList<ModuleSlot> Slots) Resolve(ModulePath target, TapMode mode, ModuleSignature signature, TapSite site)
    {
        if (!Enum.IsDefined(mode))
        {
            throw new ArgumentOutOfRangeException(site.Option, mode, $"The tap mode must be Auto, Hook, Wrapper or StandIn; got {mode}.");
        }

        if (mode == TapMode.Hook)
        {
            CheckRequestedHookCanRecord(target, signature, site);
            return (TapMode.Hook, []);
        }

        if (ModuleSwap.Find(target.Parent, target.Module) is { } existing)
        {
            return (existing.Mode, []);
        }

        var slots = target.Parent is Sequential ? [] : ModuleSlot.FindAll(target.Parent, target.Module);
        var wrapperFits = slots.Count > 0 && slots.All(slot => slot.DeclaredType.IsAssignableFrom(signature.ModuleType));
        var standInObstacle = SubstituteTypes.StandInObstacle(target.Module.GetType(), signature);
        return mode switch
        {
            TapMode.Wrapper when wrapperFits => (TapMode.Wrapper, slots),
            TapMode.Wrapper => throw new ArgumentException(CannotSwapMessage(target, signature, slots, site, "a wrapper (TapMode.Wrapper)"), site.Option),
            TapMode.StandIn when slots.Count > 0 && standInObstacle is null => (TapMode.StandIn, slots),
            TapMode.StandIn => throw new ArgumentException(CannotSwapMessage(target, signature, slots, site, "a stand-in (TapMode.StandIn)"), site.Option),
            _ when wrapperFits => (TapMode.Wrapper, slots),
            _ when slots.Count > 0 && standInObstacle is null => (TapMode.StandIn, slots),
            _ => (CheckHookCanRecord(target, signature, slots, standInObstacle, site), []),
        };
    }

    /// <summary>
    /// An explicit <see cref="TapMode.Hook"/> records only <c>call(...)</c> invocations. When the parent's code visibly
    /// invokes the submodule with <c>forward(...)</c> and invokes nothing of its type with <c>call(...)</c>, the hook
    /// could never record: fail now (before anything is attached) with the fix, TapMode.Auto where a substitute fits,
    /// else the one-line model change. A parent that also calls it with <c>call(...)</c> (e.g. one branch each) is
    /// accepted: the hook records that branch.
    /// </summary>
    private static void CheckRequestedHookCanRecord(ModulePath target, ModuleSignature signature, TapSite site)
    {
        if (target.Parent is Sequential)
        {
            return; // a Sequential invokes its items with call(...)
        }

        var slots = ModuleSlot.FindAll(target.Parent, target.Module);
        var childType = target.Module.GetType();
        var sites = ForwardSites(target, slots);
        var owners = slots.Select(slot => slot.IsElement ? target.GrandParent?.GetType() : slot.Owner.GetType()).OfType<Type>().Distinct();
        if (sites.Length == 0 || owners.Any(owner => ForwardCallScan.MayInvokeCall(owner, childType)))
        {
            return;
        }

        var wrapperFits = slots.All(slot => slot.DeclaredType.IsAssignableFrom(signature.ModuleType));
        var standInObstacle = SubstituteTypes.StandInObstacle(childType, signature);
        if (!wrapperFits && standInObstacle is not null)
        {
            CheckHookCanRecord(target, signature, slots, standInObstacle, site); // throws: no substitute fits either
        }

        throw new ArgumentException(
            $"{site.Describe(target.Path)} cannot be recorded with TapMode.Hook: {string.Join(", ", sites)} invokes it with .forward(...) "
            + "(and nothing of its type with .call(...)), which TorchSharp runs without hooks, so the hook would never record. Fix: tap it "
            + $"with TapMode.Auto (the default), which records both through a {(wrapperFits ? "wrapper" : "stand-in")} in "
            + $"{slots[0].Describe()}, or invoke it with .call(...) instead of .forward(...) in {string.Join(", ", sites)}.",
            site.Option);
    }

    /// <summary>The parent's (or, for a container item, the grandparent's) methods that invoke the submodule with <c>forward(...)</c>.</summary>
    private static string[] ForwardSites(ModulePath target, IReadOnlyList<ModuleSlot> slots)
    {
        var childType = target.Module.GetType();
        return slots
            .SelectMany(slot => slot.IsElement
                ? target.GrandParent is { } owner ? FieldsHolding(owner, target.Parent).SelectMany(holder => ForwardCallScan.FindForwardCalls(owner.GetType(), holder, childType, elementAccess: true)) : []
                : ForwardCallScan.FindForwardCalls(slot.Owner.GetType(), slot.Field, childType, elementAccess: false))
            .Distinct()
            .ToArray();
    }

    /// <summary>
    /// Auto mode with no swap possible falls back to a hook, which records only <c>call(...)</c> invocations. When the
    /// parent's code visibly invokes the submodule with <c>forward(...)</c>, nothing could ever record it: fail now
    /// with the one-line model change.
    /// </summary>
    private static TapMode CheckHookCanRecord(ModulePath target, ModuleSignature signature, IReadOnlyList<ModuleSlot> slots, string? standInObstacle, TapSite site)
    {
        var childType = target.Module.GetType();
        var sites = ForwardSites(target, slots);
        if (sites.Length == 0)
        {
            return TapMode.Hook;
        }

        var slot = slots[0];
        var declaredAs = slot.IsElement
            ? $"the items of {TypeNames.Of(slot.Owner.GetType())} are declared as {TypeNames.Of(slot.DeclaredType)}"
            : $"{slot.Describe()} is declared as {TypeNames.Of(slot.DeclaredType)}";
        var fix = slot.IsElement
            ? $"declare the container's item type as {TypeNames.Of(signature.ModuleType)}"
            : $"declare the field '{slot.Field.Name}' as {TypeNames.Of(signature.ModuleType)}";
        throw new ArgumentException(
            $"{site.Describe(target.Path)} cannot be recorded: {declaredAs}, and its {TypeNames.Of(childType)} {standInObstacle ?? "cannot be stood in for"}, "
            + $"so neither a wrapper nor a stand-in fits there; and {string.Join(", ", sites)} invokes it with .forward(...), which "
            + $"TorchSharp runs without hooks. One-line fix in the model: {fix}, or invoke it with .call(...) instead of .forward(...) "
            + $"in {string.Join(", ", sites)}. Or tap its parent instead.",
            site.Option);
    }

    private static IEnumerable<System.Reflection.FieldInfo> FieldsHolding(nn.Module owner, nn.Module container)
        => ModuleSlot.FindAll(owner, container).Where(slot => !slot.IsElement).Select(slot => slot.Field);

    private static string CannotSwapMessage(ModulePath target, ModuleSignature signature, IReadOnlyList<ModuleSlot> slots, TapSite site, string what)
    {
        var childType = TypeNames.Of(target.Module.GetType());
        if (slots.Count == 0)
        {
            return $"{site.Describe(target.Path)}: no field of {TypeNames.Of(target.Parent.GetType())} holds the submodule '{target.ChildName}' "
                + $"({childType}), so {what} has nowhere to go (it may be created on the fly, or its parent is a Sequential, which "
                + "invokes its items with call(...)). Use TapMode.Auto (the default) or TapMode.Hook.";
        }

        if (what.Contains("wrapper", StringComparison.Ordinal))
        {
            var unfit = slots.First(slot => !slot.DeclaredType.IsAssignableFrom(signature.ModuleType));
            return $"{site.Describe(target.Path)}: {unfit.Describe()} is declared as {TypeNames.Of(unfit.DeclaredType)}, which {what} cannot "
                + $"replace (a wrapper is an {TypeNames.Of(signature.ModuleType)}). Use TapMode.Auto (the default), which "
                + (SubstituteTypes.StandInObstacle(target.Module.GetType(), signature) is null ? $"puts a stand-in subclass of {childType} there" : "picks what the model allows")
                + $", or declare it as {TypeNames.Of(signature.ModuleType)}.";
        }

        return $"{site.Describe(target.Path)}: its class {childType} {SubstituteTypes.StandInObstacle(target.Module.GetType(), signature)}, so {what} cannot be "
            + "derived from it. Use TapMode.Auto "
              + "(the default), which picks what the model allows.";
    }
}
