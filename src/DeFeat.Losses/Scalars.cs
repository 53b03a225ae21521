using TorchSharp;

namespace DeFeat.Losses;

/// <summary>
/// The constant <see cref="Scalar"/>s this package passes to TorchSharp, created once and statically reachable, so
/// never finalised while a native call reads them.
/// </summary>
/// <remarks>
/// <para>
/// TorchSharp turns every plain number in a tensor expression into a temporary <see cref="Scalar"/> (<c>x * 2.0</c>,
/// <c>clamp_min(1.0)</c>, <c>pow(2)</c>, <c>arange(n)</c>'s start and step, and the hidden <c>alpha = 1</c> of
/// <c>a + b</c>). Nothing keeps such a temporary alive during the native call that reads it, so a garbage collection
/// on another thread can run its finaliser, which frees it mid-call (TorchSharp #1434, #1496): a rare
/// <c>ExternalException</c> ("toDouble at c10/core/Scalar.h") or a wrong value. This package therefore passes only
/// these constants, or run-time values as <c>using var s = value.ToScalar();</c> (disposed after the call), and
/// writes <c>a.add(b, Scalars.One)</c> for <c>a + b</c>. A test reads the package's IL to keep it that way.
/// </para>
/// <para>
/// Each constant has the C# type of the literal it replaces (an integer literal gives an integral Scalar, a
/// <c>double</c> literal a floating one), because the Scalar's type takes part in PyTorch's type promotion.
/// </para>
/// </remarks>
internal static class Scalars
{
    /// <summary>0 (integral).</summary>
    public static readonly Scalar Zero = 0.ToScalar();

    /// <summary>1 (integral); also the <c>alpha</c> TorchSharp's <c>a + b</c> passes to <c>add</c>.</summary>
    public static readonly Scalar One = 1.ToScalar();

    /// <summary>2 (integral): the exponent of <c>square()</c>, which is <c>pow(2)</c>.</summary>
    public static readonly Scalar Two = 2.ToScalar();

    /// <summary>4 (integral).</summary>
    public static readonly Scalar Four = 4.ToScalar();

    /// <summary>−2 (integral).</summary>
    public static readonly Scalar MinusTwo = (-2).ToScalar();

    /// <summary>0.0 (floating).</summary>
    public static readonly Scalar ZeroDouble = 0.0.ToScalar();

    /// <summary>0.5 (floating).</summary>
    public static readonly Scalar HalfDouble = 0.5.ToScalar();

    /// <summary>1.0 (floating).</summary>
    public static readonly Scalar OneDouble = 1.0.ToScalar();

    /// <summary>2.0 (floating).</summary>
    public static readonly Scalar TwoDouble = 2.0.ToScalar();
}
