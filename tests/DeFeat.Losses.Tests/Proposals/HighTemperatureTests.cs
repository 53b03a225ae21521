using DeFeat.Losses.Dense;
using DeFeat.Losses.Proposals;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Proposals;

/// <summary>
/// Both KD losses at the top of the documented temperature range (T = 1e6) from float32 logits. T²·KL tends to
/// ½·Var_k(t_k − s_k) for a softmax (the second-order expansion of the KL around the uniform distribution, with the
/// variance over the K columns) and to Σ_k (t_k − s_k)²/8 for per-class sigmoids; float32 rounding of the
/// log-probabilities used to turn it into large, even negative, noise.
/// </summary>
public class HighTemperatureTests
{
    private const double T = 1e6;

    [Fact]
    public void The_proposal_kd_loss_at_t_1e6_is_the_limit_of_the_expansion()
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(3);
        var student = randn([6, 4], generator: generator) * 3;
        var teacher = randn([6, 4], generator: generator) * 3;
        var labels = tensor(new long[] { 0, 1, 2, 3, 3, 3 });
        using var loss = new DecoupledProposalKdLoss(new DecoupledProposalKdLossOptions
        {
            ObjectWeight = 1, BackgroundWeight = 1, ObjectTemperature = T, BackgroundTemperature = T,
        });

        var result = loss.call(student, teacher, labels);

        var s = student.to(float64).data<double>().ToArray();
        var t = teacher.to(float64).data<double>().ToArray();
        double HalfVariance(int row)
        {
            var d = Enumerable.Range(0, 4).Select(k => t[(row * 4) + k] - s[(row * 4) + k]).ToArray();
            var mean = d.Average();
            return 0.5 * d.Select(v => (v - mean) * (v - mean)).Average();
        }

        var expectedObject = (HalfVariance(0) + HalfVariance(1) + HalfVariance(2)) / 3;
        var expectedBackground = (HalfVariance(3) + HalfVariance(4) + HalfVariance(5)) / 3;
        result.Object.ToDouble().Should().BeApproximately(expectedObject, 1e-3 * expectedObject);
        result.Background.ToDouble().Should().BeApproximately(expectedBackground, 1e-3 * expectedBackground);
    }

    [Theory]
    [InlineData(DenseKdActivation.Sigmoid)]
    [InlineData(DenseKdActivation.Softmax)]
    public void The_dense_kd_loss_at_t_1e6_matches_the_expansion_up_to_its_normaliser(DenseKdActivation activation)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(4);
        var student = randn([1, 3, 2, 2], generator: generator) * 3;
        var teacher = randn([1, 3, 2, 2], generator: generator) * 3;
        var options = new DecoupledDenseKdLossOptions
        {
            Classes = 3, AnchorsPerLocation = 1, Activation = activation, ObjectWeight = 1, BackgroundWeight = 1,
            ObjectTemperature = T, BackgroundTemperature = T,
        };
        using var loss = new DecoupledDenseKdLoss(options);
        using var atOne = new DecoupledDenseKdLoss(options with { ObjectTemperature = 1, BackgroundTemperature = 1 });
        var background = zeros(1, 2, 2);

        var hot = loss.call([student], [teacher], [background]).Background.ToDouble();

        // The normaliser does not depend on T: a loss whose per-anchor KL is 1 everywhere gives it back. Instead, compare
        // with the expansion of each anchor's T²·KL, normalised the same way as the loss at T = 1 normalises its KLs:
        // the ratio (Σ expansion) / (Σ KL at T = 1) times the loss at T = 1.
        var s = student.to(float64).data<double>().ToArray();
        var t = teacher.to(float64).data<double>().ToArray();
        double Expansion(int cell) => activation == DenseKdActivation.Sigmoid
            ? Enumerable.Range(0, 3).Sum(k => Math.Pow(t[(k * 4) + cell] - s[(k * 4) + cell], 2) / 8)
            : HalfVariance(Enumerable.Range(0, 3).Select(k => t[(k * 4) + cell] - s[(k * 4) + cell]).ToArray());
        double KlAtOne(int cell) => activation == DenseKdActivation.Sigmoid
            ? Enumerable.Range(0, 3).Sum(k => BinaryKl(Sigmoid(t[(k * 4) + cell]), Sigmoid(s[(k * 4) + cell])))
            : SoftmaxKl(Enumerable.Range(0, 3).Select(k => t[(k * 4) + cell]).ToArray(), Enumerable.Range(0, 3).Select(k => s[(k * 4) + cell]).ToArray());
        var cool = atOne.call([student], [teacher], [background]).Background.ToDouble();
        var expected = cool * Enumerable.Range(0, 4).Sum(Expansion) / Enumerable.Range(0, 4).Sum(KlAtOne);

        hot.Should().BeApproximately(expected, 1e-3 * expected);
    }

    private static double HalfVariance(double[] d)
    {
        var mean = d.Average();
        return 0.5 * d.Select(v => (v - mean) * (v - mean)).Average();
    }

    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    private static double BinaryKl(double q, double p) => (q * Math.Log(q / p)) + ((1 - q) * Math.Log((1 - q) / (1 - p)));

    private static double SoftmaxKl(double[] t, double[] s)
    {
        double Lse(double[] x) => Math.Log(x.Sum(Math.Exp));
        var (lt, ls) = (Lse(t), Lse(s));
        return t.Select((v, k) => Math.Exp(v - lt) * ((v - lt) - (s[k] - ls))).Sum();
    }
}
