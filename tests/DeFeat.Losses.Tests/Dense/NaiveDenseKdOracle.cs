using DeFeat.Losses.Dense;
using DeFeat.Losses.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Dense;

/// <summary>One dense-head level as plain row-major arrays, for the managed reference of the dense KD loss.</summary>
/// <param name="Batch">B.</param>
/// <param name="Anchors">A.</param>
/// <param name="Classes">K.</param>
/// <param name="Height">H.</param>
/// <param name="Width">W.</param>
/// <param name="Student">Student logits [B, A·K, H, W].</param>
/// <param name="Teacher">Teacher logits [B, A·K, H, W].</param>
/// <param name="AnchorWeights">Object weight of every anchor [B, A, H, W].</param>
internal sealed record DenseOracleLevel(
    int Batch, int Anchors, int Classes, int Height, int Width, double[] Student, double[] Teacher, double[] AnchorWeights);

/// <summary>
/// The dense KD formula written a second, naive way: plain double loops over the anchors, probabilities first
/// (σ(x) = 1 / (1 + e^−x), a max-shifted softmax), then the KL from their quotients, no TorchSharp.
/// Object = β_obj·T_obj²·Σ w·KL / max(1, Σ w), Background likewise with 1 − w, both sums over all levels.
/// </summary>
internal static class NaiveDenseKdOracle
{
    public static (double Object, double Background) Loss(
        IReadOnlyList<DenseOracleLevel> levels,
        DenseKdActivation activation,
        double objectWeight,
        double backgroundWeight,
        double objectTemperature,
        double backgroundTemperature)
    {
        double objectSum = 0, backgroundSum = 0, objectMass = 0, backgroundMass = 0;
        foreach (var level in levels)
        {
            for (var b = 0; b < level.Batch; b++)
            {
                for (var a = 0; a < level.Anchors; a++)
                {
                    for (var y = 0; y < level.Height; y++)
                    {
                        for (var x = 0; x < level.Width; x++)
                        {
                            var student = new double[level.Classes];
                            var teacher = new double[level.Classes];
                            for (var k = 0; k < level.Classes; k++)
                            {
                                var channel = a * level.Classes + k;
                                var index = ((b * level.Anchors * level.Classes + channel) * level.Height + y) * level.Width + x;
                                student[k] = level.Student[index];
                                teacher[k] = level.Teacher[index];
                            }

                            var w = level.AnchorWeights[((b * level.Anchors + a) * level.Height + y) * level.Width + x];
                            objectSum += w * AnchorKl(student, teacher, activation, objectTemperature);
                            backgroundSum += (1 - w) * AnchorKl(student, teacher, activation, backgroundTemperature);
                            objectMass += w;
                            backgroundMass += 1 - w;
                        }
                    }
                }
            }
        }

        return (
            objectWeight * objectTemperature * objectTemperature * objectSum / Math.Max(1.0, objectMass),
            backgroundWeight * backgroundTemperature * backgroundTemperature * backgroundSum / Math.Max(1.0, backgroundMass));
    }

    public static double AnchorKl(double[] student, double[] teacher, DenseKdActivation activation, double temperature)
    {
        double kl = 0;
        if (activation == DenseKdActivation.Sigmoid)
        {
            for (var k = 0; k < student.Length; k++)
            {
                var q = 1 / (1 + Math.Exp(-teacher[k] / temperature));
                var p = 1 / (1 + Math.Exp(-student[k] / temperature));
                kl += q * Math.Log(q / p) + (1 - q) * Math.Log((1 - q) / (1 - p));
            }

            return kl;
        }

        var qs = Softmax(teacher, temperature);
        var ps = Softmax(student, temperature);
        for (var k = 0; k < qs.Length; k++)
        {
            kl += qs[k] * Math.Log(qs[k] / ps[k]);
        }

        return kl;
    }

    /// <summary>The oracle's view of one level; per-location weights [B, H, W] are repeated for each of the A anchors.</summary>
    public static DenseOracleLevel Level(Tensor student, Tensor teacher, Tensor weights, int anchors)
    {
        int batch = (int)student.shape[0], height = (int)student.shape[2], width = (int)student.shape[3];
        var values = FeatureLossOracle.Values(weights);
        var anchorWeights = new double[batch * anchors * height * width];
        for (var b = 0; b < batch; b++)
        {
            for (var a = 0; a < anchors; a++)
            {
                for (var i = 0; i < height * width; i++)
                {
                    anchorWeights[(b * anchors + a) * height * width + i] = weights.dim() == 3
                        ? values[b * height * width + i]
                        : values[(b * anchors + a) * height * width + i];
                }
            }
        }

        return new DenseOracleLevel(
            batch, anchors, (int)student.shape[1] / anchors, height, width,
            FeatureLossOracle.Values(student), FeatureLossOracle.Values(teacher), anchorWeights);
    }

    /// <summary>The oracle's view of all levels.</summary>
    public static DenseOracleLevel[] Levels(IReadOnlyList<Tensor> students, IReadOnlyList<Tensor> teachers, IReadOnlyList<Tensor> weights, int anchors)
        => Enumerable.Range(0, students.Count).Select(l => Level(students[l], teachers[l], weights[l], anchors)).ToArray();

    private static double[] Softmax(double[] logits, double temperature)
    {
        var max = logits.Max() / temperature;
        var result = logits.Select(logit => Math.Exp(logit / temperature - max)).ToArray();
        var sum = result.Sum();
        return result.Select(value => value / sum).ToArray();
    }
}
