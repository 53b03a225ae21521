using DeFeat.Losses.Features;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Features;

/// <summary>Properties of the Pearson-correlation distance, checked on random float64 inputs.</summary>
public class PkdLossPropertyTests
{
    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, true)]
    [InlineData(4, true)]
    public void A_positive_affine_map_of_the_teachers_channels_leaves_the_loss_unchanged(int seed, bool perSample)
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(seed);
        Tensor[] students = [torch.randn(3, 4, 5, 6, dtype: ScalarType.Float64), torch.randn(3, 2, 3, 3, dtype: ScalarType.Float64)];
        Tensor[] teachers = [torch.randn(3, 4, 5, 6, dtype: ScalarType.Float64), torch.randn(3, 2, 3, 3, dtype: ScalarType.Float64)];
        // x → a·x + b with a in [0.5, 3.5), b in [−5, 5): per channel (shared by the batch), or per image and channel
        // when the statistics are per image.
        var mapped = teachers
            .Select(t =>
            {
                long[] shape = [perSample ? t.shape[0] : 1, t.shape[1], 1, 1];
                return t * (torch.rand(shape, dtype: ScalarType.Float64) * 3 + 0.5) + (torch.rand(shape, dtype: ScalarType.Float64) * 10 - 5);
            })
            .ToArray();
        using var loss = new PkdLoss(new PkdLossOptions { NormalizePerSample = perSample });

        var original = loss.call(students, teachers).ToDouble();

        original.Should().BeInRange(0.5, 3.5, "uncorrelated inputs give about 1 per level");
        loss.call(students, mapped).ToDouble().Should().BeApproximately(original, 1e-5);
        // The same holds for the student.
        loss.call(mapped, students).ToDouble().Should().BeApproximately(loss.call(teachers, students).ToDouble(), 1e-5);
    }

    [Fact]
    public void Negating_the_teacher_turns_r_into_minus_r()
    {
        // loss_l = ((N − 1)/N)·(1 − r̄): loss(S, T) + loss(S, −T) = 2·(N − 1)/N per level (up to ε), N = B·H·W.
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(5);
        Tensor[] students = [torch.randn(2, 3, 4, 4, dtype: ScalarType.Float64), torch.randn(2, 3, 2, 2, dtype: ScalarType.Float64)];
        Tensor[] teachers = [torch.randn(2, 3, 4, 4, dtype: ScalarType.Float64), torch.randn(2, 3, 2, 2, dtype: ScalarType.Float64)];
        using var loss = new PkdLoss();

        var sum = loss.call(students, teachers).ToDouble() + loss.call(students, teachers.Select(t => t.neg()).ToArray()).ToDouble();

        sum.Should().BeApproximately(2 * 31.0 / 32 + 2 * 7.0 / 8, 1e-5);
    }
}
