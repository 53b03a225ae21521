using TorchSharp;

namespace DeFeat.Hooks;

/// <summary>
/// The constant <see cref="Scalar"/>s this package passes to TorchSharp, created once and statically reachable, so
/// never finalised while a native call reads them (TorchSharp #1434, #1496: a temporary Scalar, such as the hidden
/// <c>alpha = 1</c> of <c>a + b</c>, can be finalised by a collection on another thread during the call that reads
/// it). Run-time values are passed as <c>using var s = value.ToScalar();</c>. This package's own copy, not
/// DeFeat.Losses' <c>Scalars</c>: the packages share no internals at run time.
/// </summary>
internal static class HookScalars
{
    /// <summary>1 (integral): the <c>alpha</c> TorchSharp's <c>a + b</c> passes to <c>add</c>.</summary>
    public static readonly Scalar One = 1.ToScalar();

    /// <summary>0 (floating point): comparisons with zero.</summary>
    public static readonly Scalar Zero = 0.0.ToScalar();
}
