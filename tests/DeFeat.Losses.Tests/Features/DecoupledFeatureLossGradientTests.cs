using DeFeat.Losses.Adaptation;
using DeFeat.Losses.Features;
using DeFeat.Losses.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Features;

/// <summary>Autograd gradients (float64) against central finite differences of the managed reference.</summary>
public class DecoupledFeatureLossGradientTests
{
    private const double Step = 1e-5;
    private const double ObjectWeight = 4;
    private const double BackgroundWeight = 16;

    [Fact]
    public void Student_gradients_match_finite_differences_and_the_teacher_gets_none()
    {
        using var scope = torch.NewDisposeScope();
        var (students, teachers, masks) = FeatureLossInputs.Random(
            2, ScalarType.Float64, softMasks: true, new(2, 2, 3, 2), new(3, 3, 2, 2));
        foreach (var tensor in students.Concat(teachers))
        {
            tensor.requires_grad_();
        }

        using var loss = new DecoupledFeatureLoss();
        loss.call(students, teachers, masks).Total.backward();

        var levels = FeatureLossOracle.Levels(students, teachers, masks);
        for (var l = 0; l < levels.Length; l++)
        {
            FeatureLossOracle.Values(students[l].grad!)
                .Should().Equal(FiniteDifferences(levels, levels[l].Student), Close);
            teachers[l].grad.Should().BeNull("the teacher features are detached inside the loss");
        }
    }

    [Fact]
    public void Adapter_and_student_gradients_match_finite_differences()
    {
        using var scope = torch.NewDisposeScope();
        var (students, teachers, masks) = FeatureLossInputs.Random(
            2, ScalarType.Float64, softMasks: false, new(2, 3, 3, 3), new(3, 2, 2, 3));
        // A level with objects on both maps keeps both terms non-trivial.
        masks[0][0, 1, 1] = torch.tensor(1.0, ScalarType.Float64);
        masks[1][1, 0, 2] = torch.tensor(1.0, ScalarType.Float64);
        foreach (var student in students)
        {
            student.requires_grad_();
        }

        using var adapters = new FeatureAdapters([2, 3], [3, 2]);
        adapters.to(ScalarType.Float64);
        using (torch.no_grad())
        {
            foreach (var parameter in adapters.parameters())
            {
                parameter.normal_(0.0, 0.5);
            }
        }

        using var loss = new DecoupledFeatureLoss(adapters: adapters);
        loss.call(students, teachers, masks).Total.backward();

        var levels = FeatureLossOracle.Levels(students, teachers, masks, adapters);
        for (var l = 0; l < levels.Length; l++)
        {
            FeatureLossOracle.Values(adapters[l].Weight.grad!)
                .Should().Equal(FiniteDifferences(levels, levels[l].AdapterWeight!), Close);
            FeatureLossOracle.Values(adapters[l].Bias.grad!)
                .Should().Equal(FiniteDifferences(levels, levels[l].AdapterBias!), Close);
            FeatureLossOracle.Values(students[l].grad!)
                .Should().Equal(FiniteDifferences(levels, levels[l].Student), Close);
        }
    }

    [Fact]
    public void A_teacher_that_requires_grad_gets_no_gradient_with_adapters_either()
    {
        using var scope = torch.NewDisposeScope();
        var student = torch.randn(1, 2, 3, 3).requires_grad_();
        var teacher = torch.randn(1, 4, 3, 3).requires_grad_();
        using var adapters = new FeatureAdapters([2], [4]);
        using var loss = new DecoupledFeatureLoss(adapters: adapters);

        loss.call([student], [teacher], [torch.ones(1, 3, 3)]).Total.backward();

        teacher.grad.Should().BeNull();
        student.grad.Should().NotBeNull();
        adapters[0].Weight.grad.Should().NotBeNull();
    }

    private static bool Close(double actual, double expected) => Math.Abs(actual - expected) <= 1e-7 + 1e-6 * Math.Abs(expected);

    /// <summary>∂Total/∂values[i] by central differences of the managed reference (the array is restored).</summary>
    private static double[] FiniteDifferences(OracleLevel[] levels, double[] values)
    {
        var gradient = new double[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            var original = values[i];
            values[i] = original + Step;
            var plus = Total(levels);
            values[i] = original - Step;
            var minus = Total(levels);
            values[i] = original;
            gradient[i] = (plus - minus) / (2 * Step);
        }

        return gradient;
    }

    private static double Total(OracleLevel[] levels)
    {
        var (objectTerm, backgroundTerm) = FeatureLossOracle.Loss(levels, ObjectWeight, BackgroundWeight);
        return objectTerm + backgroundTerm;
    }
}
