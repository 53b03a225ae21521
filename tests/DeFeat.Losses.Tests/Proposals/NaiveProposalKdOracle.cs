namespace DeFeat.Losses.Tests.Proposals;

/// <summary>
/// The proposal KD formula written a second, naive way: plain double loops over arrays, no TorchSharp.
/// KL_T(rows) = Σ_rows Σ_k q_k (log q_k − log p_k) / |rows| · T², q = softmax(t / T), p = softmax(s / T).
/// </summary>
internal static class NaiveProposalKdOracle
{
    public static (double Object, double Background) Compute(
        double[][] student,
        double[][] teacher,
        long[] labels,
        int backgroundIndex,
        double objectWeight,
        double backgroundWeight,
        double objectTemperature,
        double backgroundTemperature)
    {
        double objectSum = 0, backgroundSum = 0;
        int objectCount = 0, backgroundCount = 0;
        for (var row = 0; row < labels.Length; row++)
        {
            if (labels[row] == -1)
            {
                continue;
            }

            if (labels[row] == backgroundIndex)
            {
                backgroundSum += RowKl(student[row], teacher[row], backgroundTemperature);
                backgroundCount++;
            }
            else
            {
                objectSum += RowKl(student[row], teacher[row], objectTemperature);
                objectCount++;
            }
        }

        var objectTerm = objectCount == 0 ? 0.0 : objectWeight * objectSum / objectCount * objectTemperature * objectTemperature;
        var backgroundTerm = backgroundCount == 0
            ? 0.0
            : backgroundWeight * backgroundSum / backgroundCount * backgroundTemperature * backgroundTemperature;
        return (objectTerm, backgroundTerm);
    }

    public static double RowKl(double[] student, double[] teacher, double temperature)
    {
        var p = Softmax(student, temperature);
        var q = Softmax(teacher, temperature);
        double kl = 0;
        for (var k = 0; k < q.Length; k++)
        {
            if (q[k] > 0)
            {
                kl += q[k] * (Math.Log(q[k]) - Math.Log(p[k]));
            }
        }

        return kl;
    }

    private static double[] Softmax(double[] logits, double temperature)
    {
        var max = double.NegativeInfinity;
        foreach (var logit in logits)
        {
            max = Math.Max(max, logit / temperature);
        }

        var result = new double[logits.Length];
        double sum = 0;
        for (var k = 0; k < logits.Length; k++)
        {
            result[k] = Math.Exp(logits[k] / temperature - max);
            sum += result[k];
        }

        for (var k = 0; k < logits.Length; k++)
        {
            result[k] /= sum;
        }

        return result;
    }
}
