namespace DeFeat.Hooks.Recording;

/// <summary>How a <see cref="FeatureTap"/> (or a <see cref="Proposals.ProposalRelay"/>) sees a submodule's calls.</summary>
public enum TapMode
{
    /// <summary>
    /// TorchSharp forward hooks (<c>register_forward_hook</c> / <c>register_forward_pre_hook</c>). They run only when
    /// the parent invokes the submodule with <c>call(...)</c>; a parent that calls <c>forward(...)</c> bypasses them.
    /// Nothing in the model is changed besides the hook itself. The default.
    /// </summary>
    Hook,

    /// <summary>
    /// The field of the parent module that holds the submodule is swapped for a transparent wrapper that delegates to
    /// the submodule (with <c>call(...)</c>) and records around it; use it for detectors whose parents call
    /// <c>child.forward(...)</c>. The registered submodule (parameters, <c>state_dict</c>, <c>to(...)</c>,
    /// <c>train()</c>) is untouched; disposing the tap puts the original back into the field. The field must be
    /// declared with the submodule's TorchSharp base type (e.g. <c>nn.Module&lt;Tensor[], Tensor[]&gt;</c>) or a
    /// base of it, not with its concrete class.
    /// </summary>
    Wrapper,
}
