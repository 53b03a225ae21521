using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses;

/// <summary>
/// Argument checks shared by the DeFeat packages. Every failure is an <see cref="ArgumentException"/> (or subclass)
/// that names the argument and states the expected and the actual value.
/// </summary>
internal static class Guard
{
    public static T NotNull<T>(T? value, string name)
        where T : class
        => value ?? throw new ArgumentNullException(name);

    public static double Positive(double value, string name)
        => value > 0 && double.IsFinite(value)
            ? value
            : throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number > 0; got {value}.");

    public static double NonNegative(double value, string name)
        => value >= 0 && double.IsFinite(value)
            ? value
            : throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number >= 0; got {value}.");

    public static double InRange(double value, double min, double max, string name)
        => value >= min && value <= max
            ? value
            : throw new ArgumentOutOfRangeException(name, value, $"{name} must lie in [{min}, {max}]; got {value}.");

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

    public static void Rank(Tensor tensor, int rank, string name, string layout)
    {
        if (tensor.dim() != rank)
        {
            throw new ArgumentException($"{name} must be {layout} ({rank}-D); got shape {Shape(tensor)}.", name);
        }
    }

    public static void Shape(Tensor tensor, long[] expected, string name)
    {
        if (!tensor.shape.SequenceEqual(expected))
        {
            throw new ArgumentException($"{name} must have shape {Format(expected)}; got {Shape(tensor)}.", name);
        }
    }

    public static void FloatingPoint(Tensor tensor, string name)
    {
        if (!torch.is_floating_point(tensor))
        {
            throw new ArgumentException($"{name} must be a floating-point tensor; got dtype {tensor.dtype}.", name);
        }
    }

    public static void DType(Tensor tensor, ScalarType expected, string name)
    {
        if (tensor.dtype != expected)
        {
            throw new ArgumentException($"{name} must have dtype {expected}; got {tensor.dtype}.", name);
        }
    }

    public static void SameDevice(Tensor tensor, Device expected, string name)
    {
        if (tensor.device.type != expected.type || tensor.device.index != expected.index)
        {
            throw new ArgumentException($"{name} must be on device {expected}; got {tensor.device}.", name);
        }
    }

    public static void MinimumSize(Tensor tensor, int dimension, long minimum, string name, string what)
    {
        if (tensor.shape[dimension] < minimum)
        {
            throw new ArgumentException($"{name} must have at least {minimum} {what} (size of dimension {dimension}); got shape {Shape(tensor)}.", name);
        }
    }

    public static string Shape(Tensor tensor) => Format(tensor.shape);

    public static string Format(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";
}
