using DeFeat.Losses.Features;
using DeFeat.Losses.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Features;

/// <summary>Autograd gradients (float64) against central finite differences of the managed reference.</summary>
public class PkdLossGradientTests
{
    private const double Step = 1e-6;

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public void Student_gradients_match_finite_differences_including_the_resize(bool perSample, bool resizeStudent)
    {
        using var scope = torch.NewDisposeScope();
        // Level 0: same size; level 1: student 4×3 against a 2×5 teacher (one side down, one side up).
        Tensor[] students = [torch.randn(2, 3, 3, 2, dtype: ScalarType.Float64), torch.randn(2, 2, 4, 3, dtype: ScalarType.Float64)];
        Tensor[] teachers = [torch.randn(2, 3, 3, 2, dtype: ScalarType.Float64), torch.randn(2, 2, 2, 5, dtype: ScalarType.Float64)];
        foreach (var student in students)
        {
            student.requires_grad_();
        }

        using var loss = new PkdLoss(new PkdLossOptions { LossWeight = 1.5, NormalizePerSample = perSample, ResizeStudent = resizeStudent });
        var result = loss.call(students, teachers);
        result.dtype.Should().Be(ScalarType.Float64);
        result.backward();

        var studentValues = students.Select(FeatureLossOracle.Values).ToArray();
        var teacherValues = teachers.Select(FeatureLossOracle.Values).ToArray();
        double Total()
        {
            var levels = Enumerable.Range(0, students.Length)
                .Select(l => NaivePkdOracle.Level(
                    torch.tensor(studentValues[l], students[l].shape, ScalarType.Float64),
                    torch.tensor(teacherValues[l], teachers[l].shape, ScalarType.Float64),
                    resizeStudent))
                .ToArray();
            return NaivePkdOracle.Loss(levels, 1.5, perSample);
        }

        for (var l = 0; l < students.Length; l++)
        {
            var values = studentValues[l];
            var expected = new double[values.Length];
            for (var i = 0; i < values.Length; i++)
            {
                var original = values[i];
                values[i] = original + Step;
                var plus = Total();
                values[i] = original - Step;
                var minus = Total();
                values[i] = original;
                expected[i] = (plus - minus) / (2 * Step);
            }

            FeatureLossOracle.Values(students[l].grad!).Should().Equal(expected, (a, e) => Math.Abs(a - e) <= 1e-7 + 1e-5 * Math.Abs(e));
        }
    }
}
