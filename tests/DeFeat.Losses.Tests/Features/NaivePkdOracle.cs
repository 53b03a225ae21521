using DeFeat.Losses.Tests.Support;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Features;

/// <summary>One PKD level as plain row-major arrays [B, C, H, W], student and teacher already of the same size.</summary>
internal sealed record PkdOracleLevel(int Batch, int Channels, int Height, int Width, double[] Student, double[] Teacher);

/// <summary>
/// The PKD loss written a second, naive way (plain double loops, no TorchSharp): for each normalisation group (a
/// channel over the batch and the map, or one image's channel), the mean, the unbiased variance by a second pass,
/// norm(x) = (x − μ)/(σ + 1e-6); then loss_l = Σ (norm S − norm T)² / (2·B·C·H·W) and Total = w·Σ_l loss_l.
/// The resizing is a managed bilinear interpolation with PyTorch's align_corners = false rule.
/// </summary>
internal static class NaivePkdOracle
{
    public static double Loss(IReadOnlyList<PkdOracleLevel> levels, double weight, bool perSample)
        => weight * levels.Sum(level => LevelLoss(level, perSample));

    public static double LevelLoss(PkdOracleLevel level, bool perSample)
    {
        var student = Normalize(level.Student, level, perSample);
        var teacher = Normalize(level.Teacher, level, perSample);
        double sum = 0;
        for (var i = 0; i < student.Length; i++)
        {
            sum += (student[i] - teacher[i]) * (student[i] - teacher[i]);
        }

        return sum / student.Length / 2;
    }

    /// <summary>Bilinear resize [B, C, H, W] → [B, C, outH, outW], align_corners = false (source = (dst + ½)·in/out − ½, clamped at 0).</summary>
    public static double[] Resize(double[] input, int batch, int channels, int height, int width, int outHeight, int outWidth)
    {
        var output = new double[batch * channels * outHeight * outWidth];
        for (var plane = 0; plane < batch * channels; plane++)
        {
            for (var y = 0; y < outHeight; y++)
            {
                var (y0, y1, wy) = Source(y, height, outHeight);
                for (var x = 0; x < outWidth; x++)
                {
                    var (x0, x1, wx) = Source(x, width, outWidth);
                    double At(int row, int column) => input[(plane * height + row) * width + column];
                    output[(plane * outHeight + y) * outWidth + x] =
                        (1 - wy) * ((1 - wx) * At(y0, x0) + wx * At(y0, x1)) + wy * ((1 - wx) * At(y1, x0) + wx * At(y1, x1));
                }
            }
        }

        return output;
    }

    /// <summary>
    /// The oracle's view of a level as the loss compares it: the student resized to the teacher's size (or the teacher to
    /// the student's) when their sizes differ.
    /// </summary>
    public static PkdOracleLevel Level(Tensor student, Tensor teacher, bool resizeStudent = true)
    {
        int batch = (int)student.shape[0], channels = (int)student.shape[1];
        int sh = (int)student.shape[2], sw = (int)student.shape[3], th = (int)teacher.shape[2], tw = (int)teacher.shape[3];
        var s = FeatureLossOracle.Values(student);
        var t = FeatureLossOracle.Values(teacher);
        if (sh == th && sw == tw)
        {
            return new PkdOracleLevel(batch, channels, sh, sw, s, t);
        }

        return resizeStudent
            ? new PkdOracleLevel(batch, channels, th, tw, Resize(s, batch, channels, sh, sw, th, tw), t)
            : new PkdOracleLevel(batch, channels, sh, sw, s, Resize(t, batch, channels, th, tw, sh, sw));
    }

    public static PkdOracleLevel[] Levels(IReadOnlyList<Tensor> students, IReadOnlyList<Tensor> teachers, bool resizeStudent = true)
        => Enumerable.Range(0, students.Count).Select(l => Level(students[l], teachers[l], resizeStudent)).ToArray();

    private static (int Low, int High, double Weight) Source(int destination, int inSize, int outSize)
    {
        var source = Math.Max(0.0, (destination + 0.5) * inSize / outSize - 0.5);
        var low = Math.Min((int)Math.Floor(source), inSize - 1);
        return (low, Math.Min(low + 1, inSize - 1), source - low);
    }

    private static double[] Normalize(double[] values, PkdOracleLevel level, bool perSample)
    {
        int plane = level.Height * level.Width;
        var result = new double[values.Length];
        var groups = perSample
            ? Enumerable.Range(0, level.Batch * level.Channels).Select(g => new[] { g })
            : Enumerable.Range(0, level.Channels).Select(c => Enumerable.Range(0, level.Batch).Select(b => b * level.Channels + c).ToArray());
        foreach (var planes in groups)
        {
            var indices = planes.SelectMany(p => Enumerable.Range(p * plane, plane)).ToArray();
            var mean = indices.Sum(i => values[i]) / indices.Length;
            var variance = indices.Sum(i => (values[i] - mean) * (values[i] - mean)) / (indices.Length - 1);
            foreach (var i in indices)
            {
                result[i] = (values[i] - mean) / (Math.Sqrt(variance) + 1e-6);
            }
        }

        return result;
    }
}
