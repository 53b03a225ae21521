using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Support;

/// <summary>
/// The formulas of the terms written a second, naive way (host loops over copied values), as test oracles: the
/// official region rule and level rule, the backbone mask, the decoupled feature loss and the decoupled dense KD (on
/// logit maps, and straight from a head's flattened probabilities).
/// </summary>
internal static class NaiveTerms
{
    /// <summary>[B][H, W] 0/1 masks of one level under the official region rule: every box for which <paramref name="marks"/> is true marks its cells.</summary>
    public static double[][,] Mask(float[][,] boxes, int height, int width, double stride, Func<float[], bool> marks)
    {
        var masks = new double[boxes.Length][,];
        for (var image = 0; image < boxes.Length; image++)
        {
            masks[image] = new double[height, width];
            for (var box = 0; box < boxes[image].GetLength(0); box++)
            {
                var b = Enumerable.Range(0, 4).Select(i => boxes[image][box, i]).ToArray();
                if (!marks(b))
                {
                    continue;
                }

                var rowStart = Math.Clamp((int)Math.Truncate(b[1] / stride), 0, height);
                var rowEnd = Math.Clamp((int)Math.Truncate(b[3] / stride), 0, height);
                var columnStart = Math.Clamp((int)Math.Truncate(b[0] / stride), 0, width);
                var columnEnd = Math.Clamp((int)Math.Truncate(b[2] / stride), 0, width);
                if (rowEnd <= rowStart || columnEnd <= columnStart)
                {
                    rowStart = Math.Clamp((int)Math.Truncate(b[1] / stride), 0, height - 1);
                    columnStart = Math.Clamp((int)Math.Truncate(b[0] / stride), 0, width - 1);
                    (rowEnd, columnEnd) = (rowStart + 1, columnStart + 1);
                }

                for (var row = rowStart; row < rowEnd; row++)
                {
                    for (var column = columnStart; column < columnEnd; column++)
                    {
                        masks[image][row, column] = 1;
                    }
                }
            }
        }

        return masks;
    }

    /// <summary>The official level of a box: clamp(floor(log2(sqrt((w+1)(h+1)) / c + 1e-6)), 0, L−1).</summary>
    public static int Level(float[] box, int levels, double canonical)
        => Math.Clamp((int)Math.Floor(Math.Log2((Math.Sqrt((box[2] - box[0] + 1.0) * (box[3] - box[1] + 1.0)) / canonical) + 1e-6)), 0, levels - 1);

    /// <summary>Nearest-neighbour resize of a [H, W] mask: cell (i, j) takes (floor(i·H/h), floor(j·W/w)).</summary>
    public static double[,] Nearest(double[,] mask, int height, int width)
    {
        var resized = new double[height, width];
        for (var row = 0; row < height; row++)
        {
            for (var column = 0; column < width; column++)
            {
                resized[row, column] = mask[row * mask.GetLength(0) / height, column * mask.GetLength(1) / width];
            }
        }

        return resized;
    }

    /// <summary>
    /// (λ_obj·L_obj, λ_bg·L_bg, per-level object shares, per-level background shares) of DeFeat's feature loss:
    /// L = (1/L) Σ_l Σ M(S−T)² / max(1, 2·C·Σ M).
    /// </summary>
    public static (double Object, double Background, double[] ObjectByLevel, double[] BackgroundByLevel) FeatureLoss(
        IReadOnlyList<Tensor> student, IReadOnlyList<Tensor> teacher, IReadOnlyList<double[][,]> masks, double objectWeight, double backgroundWeight)
    {
        var levels = student.Count;
        var objectShares = new double[levels];
        var backgroundShares = new double[levels];
        for (var level = 0; level < levels; level++)
        {
            var s = Values(student[level]);
            var t = Values(teacher[level]);
            var (batch, channels, height, width) = ((int)teacher[level].shape[0], (int)teacher[level].shape[1], (int)teacher[level].shape[2], (int)teacher[level].shape[3]);
            double objectSum = 0, backgroundSum = 0, objectArea = 0, backgroundArea = 0;
            for (var b = 0; b < batch; b++)
            {
                for (var h = 0; h < height; h++)
                {
                    for (var w = 0; w < width; w++)
                    {
                        var m = masks[level][b][h, w];
                        objectArea += m;
                        backgroundArea += 1 - m;
                        for (var c = 0; c < channels; c++)
                        {
                            var index = (((b * channels) + c) * height + h) * width + w;
                            var d = (s[index] - t[index]) * (s[index] - t[index]);
                            objectSum += m * d;
                            backgroundSum += (1 - m) * d;
                        }
                    }
                }
            }

            objectShares[level] = objectWeight / levels * objectSum / Math.Max(1, 2 * channels * objectArea);
            backgroundShares[level] = backgroundWeight / levels * backgroundSum / Math.Max(1, 2 * channels * backgroundArea);
        }

        return (objectShares.Sum(), backgroundShares.Sum(), objectShares, backgroundShares);
    }

    /// <summary>
    /// (β_obj·object KL, β_bg·background KL) of the sigmoid dense KD with T = 1: per anchor Σ_k KL(Bernoulli(σ(t_k)) ‖ Bernoulli(σ(s_k))),
    /// weighted by the location's mask, each part averaged over its anchors of all levels.
    /// </summary>
    public static (double Object, double Background) SigmoidDenseKd(
        IReadOnlyList<Tensor> student, IReadOnlyList<Tensor> teacher, IReadOnlyList<double[][,]> masks, int anchors, int classes, double objectWeight, double backgroundWeight)
    {
        double objectSum = 0, backgroundSum = 0, objectMass = 0, backgroundMass = 0;
        for (var level = 0; level < student.Count; level++)
        {
            var s = Values(student[level]);
            var t = Values(teacher[level]);
            var (batch, height, width) = ((int)teacher[level].shape[0], (int)teacher[level].shape[2], (int)teacher[level].shape[3]);
            for (var b = 0; b < batch; b++)
            {
                for (var a = 0; a < anchors; a++)
                {
                    for (var h = 0; h < height; h++)
                    {
                        for (var w = 0; w < width; w++)
                        {
                            double kl = 0;
                            for (var k = 0; k < classes; k++)
                            {
                                var index = (((b * anchors * classes) + (a * classes) + k) * height + h) * width + w;
                                var q = 1 / (1 + Math.Exp(-t[index]));
                                var p = 1 / (1 + Math.Exp(-s[index]));
                                kl += (q * Math.Log(q / p)) + ((1 - q) * Math.Log((1 - q) / (1 - p)));
                            }

                            var m = masks[level][b][h, w];
                            objectSum += m * kl;
                            backgroundSum += (1 - m) * kl;
                            objectMass += m;
                            backgroundMass += 1 - m;
                        }
                    }
                }
            }
        }

        return (objectWeight * objectSum / Math.Max(1, objectMass), backgroundWeight * backgroundSum / Math.Max(1, backgroundMass));
    }

    /// <summary>
    /// (β_obj·object KL, β_bg·background KL) of the softmax dense KD with T = 1 on per-level logit maps [B, A·K, H, W]:
    /// per anchor Σ_k q_k log(q_k / p_k) with q, p the softmax over the anchor's K channels a·K .. a·K + K − 1.
    /// </summary>
    public static (double Object, double Background) SoftmaxDenseKd(
        IReadOnlyList<Tensor> student, IReadOnlyList<Tensor> teacher, IReadOnlyList<double[][,]> masks, int anchors, int classes, double objectWeight, double backgroundWeight)
    {
        double objectSum = 0, backgroundSum = 0, objectMass = 0, backgroundMass = 0;
        for (var level = 0; level < student.Count; level++)
        {
            var s = Values(student[level]);
            var t = Values(teacher[level]);
            var (batch, height, width) = ((int)teacher[level].shape[0], (int)teacher[level].shape[2], (int)teacher[level].shape[3]);
            for (var b = 0; b < batch; b++)
            {
                for (var a = 0; a < anchors; a++)
                {
                    for (var h = 0; h < height; h++)
                    {
                        for (var w = 0; w < width; w++)
                        {
                            var index = (int k) => (((b * anchors * classes) + (a * classes) + k) * height + h) * width + w;
                            var studentNorm = Enumerable.Range(0, classes).Sum(k => Math.Exp(s[index(k)]));
                            var teacherNorm = Enumerable.Range(0, classes).Sum(k => Math.Exp(t[index(k)]));
                            double kl = 0;
                            for (var k = 0; k < classes; k++)
                            {
                                var q = Math.Exp(t[index(k)]) / teacherNorm;
                                var p = Math.Exp(s[index(k)]) / studentNorm;
                                kl += q * Math.Log(q / p);
                            }

                            var m = masks[level][b][h, w];
                            objectSum += m * kl;
                            backgroundSum += (1 - m) * kl;
                            objectMass += m;
                            backgroundMass += 1 - m;
                        }
                    }
                }
            }
        }

        return (objectWeight * objectSum / Math.Max(1, objectMass), backgroundWeight * backgroundSum / Math.Max(1, backgroundMass));
    }

    /// <summary>
    /// (β_obj·object KL, β_bg·background KL) of the dense KD with T = 1 computed straight from a head's flattened
    /// probabilities: <paramref name="student"/> and <paramref name="teacher"/> hold [B, H_l·W_l·A, K] per level, or one
    /// [B, Σ_l H_l·W_l·A, K] tensor for all levels, row (h·W_l + w)·A + a (after the rows of the earlier levels) being
    /// anchor a at cell (h, w). Probabilities are clamped to [ε, 1 − ε] (sigmoid: Σ_k binary KL) or to [ε, 1] and
    /// renormalised (softmax: Σ_k q_k log(q_k / p_k)).
    /// </summary>
    public static (double Object, double Background) FlattenedDenseKd(
        IReadOnlyList<Tensor> student, IReadOnlyList<Tensor> teacher, (int Height, int Width)[] sizes, IReadOnlyList<double[][,]> masks,
        int anchors, int classes, bool softmax, double epsilon, double objectWeight, double backgroundWeight)
    {
        var concatenated = student.Count == 1 && sizes.Length > 1;
        var batch = (int)student[0].shape[0];
        double objectSum = 0, backgroundSum = 0, objectMass = 0, backgroundMass = 0;
        var firstRow = 0;
        for (var level = 0; level < sizes.Length; level++)
        {
            var tensor = concatenated ? 0 : level;
            var s = Values(student[tensor]);
            var t = Values(teacher[tensor]);
            var rows = (int)student[tensor].shape[1];
            var (height, width) = sizes[level];
            for (var b = 0; b < batch; b++)
            {
                for (var h = 0; h < height; h++)
                {
                    for (var w = 0; w < width; w++)
                    {
                        for (var a = 0; a < anchors; a++)
                        {
                            var row = (concatenated ? firstRow : 0) + (((h * width) + w) * anchors) + a;
                            var p = Enumerable.Range(0, classes).Select(k => s[(((b * rows) + row) * classes) + k]).ToArray();
                            var q = Enumerable.Range(0, classes).Select(k => t[(((b * rows) + row) * classes) + k]).ToArray();
                            double kl = 0;
                            if (softmax)
                            {
                                p = [.. p.Select(value => Math.Max(value, epsilon))];
                                q = [.. q.Select(value => Math.Max(value, epsilon))];
                                var (pSum, qSum) = (p.Sum(), q.Sum());
                                for (var k = 0; k < classes; k++)
                                {
                                    kl += q[k] / qSum * Math.Log(q[k] / qSum / (p[k] / pSum));
                                }
                            }
                            else
                            {
                                for (var k = 0; k < classes; k++)
                                {
                                    var (pk, qk) = (Math.Clamp(p[k], epsilon, 1 - epsilon), Math.Clamp(q[k], epsilon, 1 - epsilon));
                                    kl += (qk * Math.Log(qk / pk)) + ((1 - qk) * Math.Log((1 - qk) / (1 - pk)));
                                }
                            }

                            var m = masks[level][b][h, w];
                            objectSum += m * kl;
                            backgroundSum += (1 - m) * kl;
                            objectMass += m;
                            backgroundMass += 1 - m;
                        }
                    }
                }
            }

            firstRow += height * width * anchors;
        }

        return (objectWeight * objectSum / Math.Max(1, objectMass), backgroundWeight * backgroundSum / Math.Max(1, backgroundMass));
    }

    /// <summary>The values of a tensor, row-major, as float64 on the host.</summary>
    public static double[] Values(Tensor tensor) => tensor.detach().to(ScalarType.Float64).cpu().contiguous().data<double>().ToArray();

    /// <summary>The host value of a 0-D tensor.</summary>
    public static double Value(Tensor tensor) => tensor.to(ScalarType.Float64).item<double>();
}
