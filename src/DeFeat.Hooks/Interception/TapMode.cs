namespace DeFeat.Hooks.Interception;

/// <summary>
/// How a feature tap (<c>Recording.FeatureTap</c>) or a proposal relay (<c>RoiHeads.ProposalRelay</c>) sees a
/// submodule's calls. Leave it at <see cref="Auto"/> unless an error message names another value.
/// </summary>
public enum TapMode
{
    /// <summary>
    /// The default: a substitute in the parent's slot when the model allows one (a <see cref="Wrapper"/> when the slot
    /// is declared as the TorchSharp base type, else a <see cref="StandIn"/>), so that both <c>call(...)</c> and
    /// <c>forward(...)</c> invocations are recorded; otherwise a <see cref="Hook"/>. A hook cannot record a submodule
    /// that its parent invokes with <c>forward(...)</c> (e.g. a sealed class in a concretely typed field); the first
    /// read of what it recorded then fails with the one-line model change that fixes it.
    /// </summary>
    Auto,

    /// <summary>
    /// TorchSharp forward hooks (<c>register_forward_hook</c> / <c>register_forward_pre_hook</c>). They run only when
    /// the parent invokes the submodule with <c>call(...)</c>; a parent that calls <c>forward(...)</c> bypasses them.
    /// Nothing in the model is changed besides the hook itself. Attaching never guesses how the parent invokes the
    /// submodule; when the hook has recorded nothing, the first read says so and names the fix.
    /// </summary>
    Hook,

    /// <summary>
    /// Every slot of the parent that holds the submodule (a field, or an item of a list, array or dictionary field,
    /// e.g. of a <c>ModuleList</c> / <c>ModuleDict</c>) gets a transparent wrapper module that records around
    /// <c>submodule.call(...)</c>. The slots must be declared with the submodule's TorchSharp base type (e.g.
    /// <c>nn.Module&lt;Tensor[], Tensor[]&gt;</c>) or a base of it. The registered submodule is untouched; disposing
    /// restores the slots.
    /// </summary>
    Wrapper,

    /// <summary>
    /// Every slot of the parent that holds the submodule gets a stand-in: an instance of a generated subclass of the
    /// submodule's own class, sharing its native module, parameters, buffers, children and hooks, whose
    /// <c>forward</c> records around the original's <c>forward</c>. Fits slots declared with the concrete class;
    /// needs a class and a <c>forward</c> that are not sealed. The registered submodule is untouched (the stand-in
    /// is never registered, disposed or finalised); disposing restores the slots.
    /// </summary>
    StandIn,
}
