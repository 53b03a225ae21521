using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Masks;

/// <summary>Building box tensors and reading masks back as plain arrays for the mask tests.</summary>
internal static class MaskTestData
{
    /// <summary>[N, 4] float32 boxes from literal (x1, y1, x2, y2) rows; no rows gives [0, 4].</summary>
    public static Tensor Boxes(params double[][] rows)
    {
        var flat = rows.SelectMany(row => row.Select(value => (float)value)).ToArray();
        return tensor(flat, [rows.Length, 4], ScalarType.Float32);
    }

    /// <summary>Image b of a [B, H, W] mask as a 0/1 grid; fails if a value is neither 0 nor 1.</summary>
    public static int[,] Grid(Tensor mask, int image)
    {
        var values = Values(mask, image);
        var grid = new int[values.GetLength(0), values.GetLength(1)];
        for (var i = 0; i < values.GetLength(0); i++)
        {
            for (var j = 0; j < values.GetLength(1); j++)
            {
                values[i, j].Should().BeOneOf([0.0, 1.0], $"mask cell ({i}, {j}) must be binary");
                grid[i, j] = (int)values[i, j];
            }
        }

        return grid;
    }

    /// <summary>Image b of a [B, H, W] mask as doubles.</summary>
    public static double[,] Values(Tensor mask, int image)
    {
        var (height, width) = ((int)mask.shape[1], (int)mask.shape[2]);
        var data = mask[image].to(ScalarType.Float64).contiguous().data<double>().ToArray();
        var values = new double[height, width];
        for (var i = 0; i < height; i++)
        {
            for (var j = 0; j < width; j++)
            {
                values[i, j] = data[(i * width) + j];
            }
        }

        return values;
    }

    /// <summary>
    /// Asserts that creating an object with an invalid option value throws an <see cref="ArgumentOutOfRangeException"/>
    /// that names the option and states the expected range and the actual value.
    /// </summary>
    public static void ShouldRejectOption(Func<object> create, string name, string expected, double value)
        => FluentActions.Invoking(create).Should().Throw<ArgumentOutOfRangeException>()
            .Where(e => e.ParamName == name && e.Message.Contains(expected) && e.Message.Contains($"got {value}"));

    /// <summary>An all-zero H × W grid.</summary>
    public static int[,] ZeroGrid(int height, int width) => new int[height, width];

    /// <summary>Disposes every tensor of a builder's result.</summary>
    public static void DisposeAll(IEnumerable<Tensor> tensors)
    {
        foreach (var tensor in tensors)
        {
            tensor.Dispose();
        }
    }
}
