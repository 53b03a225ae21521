using DeFeat.Losses.Dense;
using DeFeat.Losses.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Dense;

/// <summary>Autograd gradients (float64) against central finite differences of the managed reference.</summary>
public class DecoupledDenseKdLossGradientTests
{
    private const double Step = 1e-6;

    [Theory]
    [InlineData(DenseKdActivation.Sigmoid, 1.0, 1.0)]
    [InlineData(DenseKdActivation.Sigmoid, 2.0, 0.5)]
    [InlineData(DenseKdActivation.Softmax, 1.0, 1.0)]
    [InlineData(DenseKdActivation.Softmax, 0.5, 3.0)]
    public void Student_gradients_match_finite_differences_and_the_teacher_gets_none(
        DenseKdActivation activation, double objectTemperature, double backgroundTemperature)
    {
        const int anchors = 2, classes = 3;
        using var scope = torch.NewDisposeScope();
        var (students, teachers, weights) = DenseKdInputs.Random(
            2, anchors, classes, ScalarType.Float64, softWeights: true, new DenseLevelShape(3, 2), new DenseLevelShape(2, 2, PerAnchorWeights: true));
        foreach (var tensor in students.Concat(teachers))
        {
            tensor.requires_grad_();
        }

        var options = new DecoupledDenseKdLossOptions
        {
            Classes = classes,
            AnchorsPerLocation = anchors,
            Activation = activation,
            ObjectWeight = 1.5,
            BackgroundWeight = 3,
            ObjectTemperature = objectTemperature,
            BackgroundTemperature = backgroundTemperature,
        };
        using var loss = new DecoupledDenseKdLoss(options);
        var result = loss.call(students, teachers, weights);
        result.Total.dtype.Should().Be(ScalarType.Float64);
        result.Total.backward();

        var levels = NaiveDenseKdOracle.Levels(students, teachers, weights, anchors);
        for (var l = 0; l < levels.Length; l++)
        {
            FeatureLossOracle.Values(students[l].grad!).Should().Equal(FiniteDifferences(levels, levels[l].Student, options), Close);
            teachers[l].grad.Should().BeNull("the teacher scores are detached inside the loss");
        }
    }

    private static bool Close(double actual, double expected) => Math.Abs(actual - expected) <= 1e-7 + 1e-5 * Math.Abs(expected);

    /// <summary>∂Total/∂values[i] by central differences of the managed reference (the array is restored).</summary>
    private static double[] FiniteDifferences(DenseOracleLevel[] levels, double[] values, DecoupledDenseKdLossOptions options)
    {
        var gradient = new double[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            var original = values[i];
            values[i] = original + Step;
            var plus = Total(levels, options);
            values[i] = original - Step;
            var minus = Total(levels, options);
            values[i] = original;
            gradient[i] = (plus - minus) / (2 * Step);
        }

        return gradient;
    }

    private static double Total(DenseOracleLevel[] levels, DecoupledDenseKdLossOptions options)
    {
        var (objectTerm, backgroundTerm) = NaiveDenseKdOracle.Loss(
            levels, options.Activation, options.ObjectWeight, options.BackgroundWeight, options.ObjectTemperature, options.BackgroundTemperature);
        return objectTerm + backgroundTerm;
    }
}
