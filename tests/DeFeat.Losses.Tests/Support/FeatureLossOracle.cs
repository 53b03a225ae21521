using DeFeat.Losses.Adaptation;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Support;

/// <summary>One feature level as plain row-major arrays, for the managed reference of the feature loss.</summary>
/// <param name="Batch">B.</param>
/// <param name="StudentChannels">C_s.</param>
/// <param name="TeacherChannels">C_t.</param>
/// <param name="Height">H.</param>
/// <param name="Width">W.</param>
/// <param name="Student">S [B, C_s, H, W].</param>
/// <param name="Teacher">T [B, C_t, H, W].</param>
/// <param name="Mask">M [B, H, W].</param>
/// <param name="AdapterWeight">Optional 3×3 adapter weight [C_t, C_s, 3, 3] (padding 1).</param>
/// <param name="AdapterBias">Adapter bias [C_t] (with <paramref name="AdapterWeight"/>).</param>
internal sealed record OracleLevel(
    int Batch,
    int StudentChannels,
    int TeacherChannels,
    int Height,
    int Width,
    double[] Student,
    double[] Teacher,
    double[] Mask,
    double[]? AdapterWeight = null,
    double[]? AdapterBias = null);

/// <summary>
/// The managed reference ("oracle") of DeFeat's decoupled feature loss: the paper's formula written with plain loops,
/// the mask applied element by element over every channel, a naive 3×3 convolution for the adapters.
/// </summary>
internal static class FeatureLossOracle
{
    public static (double Object, double Background) Loss(
        IReadOnlyList<OracleLevel> levels, double objectWeight, double backgroundWeight)
    {
        double objectSum = 0, backgroundSum = 0;
        foreach (var level in levels)
        {
            var student = level.AdapterWeight is null
                ? level.Student
                : Conv3x3(level.Student, level.Batch, level.StudentChannels, level.Height, level.Width,
                    level.AdapterWeight, level.AdapterBias!, level.TeacherChannels);
            int channels = level.TeacherChannels, height = level.Height, width = level.Width;
            double objectNumerator = 0, backgroundNumerator = 0, objectMass = 0, backgroundMass = 0;
            for (var b = 0; b < level.Batch; b++)
            {
                for (var y = 0; y < height; y++)
                {
                    for (var x = 0; x < width; x++)
                    {
                        var m = level.Mask[(b * height + y) * width + x];
                        objectMass += m;
                        backgroundMass += 1 - m;
                        for (var c = 0; c < channels; c++)
                        {
                            var index = ((b * channels + c) * height + y) * width + x;
                            var difference = student[index] - level.Teacher[index];
                            objectNumerator += m * difference * difference;
                            backgroundNumerator += (1 - m) * difference * difference;
                        }
                    }
                }
            }

            objectSum += objectNumerator / Math.Max(1.0, 2.0 * channels * objectMass);
            backgroundSum += backgroundNumerator / Math.Max(1.0, 2.0 * channels * backgroundMass);
        }

        return (objectWeight * objectSum / levels.Count, backgroundWeight * backgroundSum / levels.Count);
    }

    /// <summary>3×3 convolution, stride 1, zero padding 1: [B, Cin, H, W] → [B, Cout, H, W].</summary>
    public static double[] Conv3x3(
        double[] input, int batch, int inChannels, int height, int width, double[] weight, double[] bias, int outChannels)
    {
        var output = new double[batch * outChannels * height * width];
        for (var b = 0; b < batch; b++)
        {
            for (var o = 0; o < outChannels; o++)
            {
                for (var y = 0; y < height; y++)
                {
                    for (var x = 0; x < width; x++)
                    {
                        var sum = bias[o];
                        for (var i = 0; i < inChannels; i++)
                        {
                            for (var ky = 0; ky < 3; ky++)
                            {
                                for (var kx = 0; kx < 3; kx++)
                                {
                                    int sy = y + ky - 1, sx = x + kx - 1;
                                    if (sy >= 0 && sy < height && sx >= 0 && sx < width)
                                    {
                                        sum += weight[((o * inChannels + i) * 3 + ky) * 3 + kx]
                                            * input[((b * inChannels + i) * height + sy) * width + sx];
                                    }
                                }
                            }
                        }

                        output[((b * outChannels + o) * height + y) * width + x] = sum;
                    }
                }
            }
        }

        return output;
    }

    /// <summary>Copies a tensor's values to the host as doubles (tests only).</summary>
    public static double[] Values(Tensor tensor)
    {
        using var scope = torch.NewDisposeScope();
        return tensor.detach().to_type(ScalarType.Float64).cpu().contiguous().data<double>().ToArray();
    }

    /// <summary>Builds the oracle's view of one level from the tensors given to the loss.</summary>
    public static OracleLevel Level(Tensor student, Tensor teacher, Tensor mask, AdaptationConv? adapter = null)
        => new(
            (int)student.shape[0],
            (int)student.shape[1],
            (int)teacher.shape[1],
            (int)student.shape[2],
            (int)student.shape[3],
            Values(student),
            Values(teacher),
            Values(mask),
            adapter is null ? null : Values(adapter.Weight),
            adapter is null ? null : Values(adapter.Bias));

    /// <summary>Builds the oracle's view of all levels.</summary>
    public static OracleLevel[] Levels(
        IReadOnlyList<Tensor> students, IReadOnlyList<Tensor> teachers, IReadOnlyList<Tensor> masks, FeatureAdapters? adapters = null)
        => Enumerable.Range(0, students.Count)
            .Select(l => Level(students[l], teachers[l], masks[l], adapters?[l]))
            .ToArray();

    /// <summary>Relative error |actual − expected| / max(|expected|, 1e-12).</summary>
    public static double RelativeError(double actual, double expected)
        => Math.Abs(actual - expected) / Math.Max(Math.Abs(expected), 1e-12);
}
