using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses;

/// <summary>
/// Argument checks shared by the DeFeat packages. Every failure is an <see cref="ArgumentException"/> (or subclass)
/// that names the argument and states the expected and the actual value.
/// </summary>
/// <remarks>
/// Shared as source, not through InternalsVisibleTo: DeFeat.Hooks compiles this file too (a linked item in its project
/// file), so each assembly has its own internal copy.
/// </remarks>
internal static class Guard
{
    public static T NotNull<T>(T? value, string name)
        where T : class
        => value ?? throw new ArgumentNullException(name);

    /// <summary>A tensor argument must be non-null and alive (not disposed).</summary>
    public static Tensor NotNull(Tensor? value, string name) => Alive(value ?? throw new ArgumentNullException(name), name);

    public static double Positive(double value, string name)
        => value > 0 && double.IsFinite(value)
            ? value
            : throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number > 0; got {value}.");

    public static double NonNegative(double value, string name)
        => value >= 0 && double.IsFinite(value)
            ? value
            : throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number >= 0; got {value}.");

    /// <summary>A fraction in (0, 1]: finite, &gt; 0 and ≤ 1 (e.g. a factor of a box size or of a largest IoU).</summary>
    public static double Fraction(double value, string name)
        => value > 0 && value <= 1
            ? value
            : throw new ArgumentOutOfRangeException(name, value, $"{name} must lie in (0, 1]; got {value}.");

    public static double InRange(double value, double min, double max, string name)
        => value >= min && value <= max
            ? value
            : throw new ArgumentOutOfRangeException(name, value, $"{name} must lie in [{min}, {max}]; got {value}.");

    /// <summary>
    /// A KD temperature T must lie in [<paramref name="minimum"/>, <paramref name="maximum"/>]: outside it the scaled
    /// logits s/T or the factor T² leave float32's range and the loss is NaN.
    /// </summary>
    public static double Temperature(double value, double minimum, double maximum, string name)
        => value >= minimum && value <= maximum
            ? value
            : throw new ArgumentOutOfRangeException(
                name, value, $"{name} must lie in [{minimum}, {maximum}] (outside it s/T or T² leaves float32's range and the loss is NaN); got {value}.");

    /// <summary>
    /// Optional per-level strides (input pixels per cell): null, or at least one value, each a finite number &gt; 0; a bad
    /// value is named by its index (e.g. <c>options.Strides[1]</c>).
    /// </summary>
    public static IReadOnlyList<double>? Strides(IReadOnlyList<double>? strides, string name)
    {
        if (strides is null)
        {
            return null;
        }

        if (strides.Count == 0)
        {
            throw new ArgumentException($"{name} must list one stride per level, or be null to derive them from the image size; got an empty list.", name);
        }

        for (var level = 0; level < strides.Count; level++)
        {
            Positive(strides[level], $"{name}[{level}]");
        }

        return strides;
    }

    public static void Count(int actual, int expected, string name, string what = "entries")
    {
        if (actual != expected)
        {
            throw new ArgumentException($"{name} must have {expected} {what} (one per level); got {actual}.", name);
        }
    }

    public static void NotEmpty<T>(IReadOnlyCollection<T> values, string name)
    {
        if (values.Count == 0)
        {
            throw new ArgumentException($"{name} must not be empty.", name);
        }
    }

    /// <summary>A disposed tensor (empty handle) is named as such instead of surfacing as TorchSharp's "empty handle".</summary>
    public static Tensor Alive(Tensor tensor, string name)
        => !tensor.IsInvalid
            ? tensor
            : throw new ObjectDisposedException(
                name,
                $"{name} is a disposed tensor (its handle is empty): it was disposed, or the dispose scope it was created in has "
                + "closed. Pass tensors that are alive for this call (create them in the current step's scope, or move them "
                + "out with MoveToOuterDisposeScope()).");

    /// <summary>Throws when a module was disposed, saying how that happens and what to do.</summary>
    public static void NotDisposed(bool disposed, string typeName)
    {
        if (disposed)
        {
            throw new ObjectDisposedException(
                typeName,
                $"This {typeName} was disposed (a using block ended, or the object that owns it was disposed, e.g. a "
                + "Distiller); create a new one for further steps.");
        }
    }

    public static void Rank(Tensor tensor, int rank, string name, string layout)
    {
        if (Alive(tensor, name).dim() != rank)
        {
            throw new ArgumentException($"{name} must be {layout} ({rank}-D); got shape {Shape(tensor)}.", name);
        }
    }

    public static void Shape(Tensor tensor, long[] expected, string name)
    {
        if (!Alive(tensor, name).shape.SequenceEqual(expected))
        {
            throw new ArgumentException($"{name} must have shape {Format(expected)}; got {Shape(tensor)}.", name);
        }
    }

    public static void FloatingPoint(Tensor tensor, string name)
    {
        if (!torch.is_floating_point(Alive(tensor, name)))
        {
            throw new ArgumentException($"{name} must be a floating-point tensor; got dtype {tensor.dtype}.", name);
        }
    }

    public static void DType(Tensor tensor, ScalarType expected, string name)
    {
        if (Alive(tensor, name).dtype != expected)
        {
            throw new ArgumentException($"{name} must have dtype {expected}; got {tensor.dtype}.", name);
        }
    }

    public static void SameDevice(Tensor tensor, Device expected, string name)
    {
        if (Alive(tensor, name).device.type != expected.type || tensor.device.index != expected.index)
        {
            throw new ArgumentException($"{name} must be on device {expected}; got {tensor.device}.", name);
        }
    }

    public static void MinimumSize(Tensor tensor, int dimension, long minimum, string name, string what)
    {
        if (Alive(tensor, name).shape[dimension] < minimum)
        {
            throw new ArgumentException($"{name} must have at least {minimum} {what} (size of dimension {dimension}); got shape {Shape(tensor)}.", name);
        }
    }

    public static string Shape(Tensor tensor) => Format(tensor.shape);

    public static string Format(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";
}
