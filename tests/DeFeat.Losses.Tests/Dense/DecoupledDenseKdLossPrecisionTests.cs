using DeFeat.Losses.Dense;
using DeFeat.Losses.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Dense;

public class DecoupledDenseKdLossPrecisionTests
{
    private static readonly DenseLevelShape[] Levels = [new(8, 6), new(4, 3, PerAnchorWeights: true), new(2, 2)];

    [Theory]
    [InlineData(ScalarType.Float16, DenseKdActivation.Sigmoid)]
    [InlineData(ScalarType.BFloat16, DenseKdActivation.Sigmoid)]
    [InlineData(ScalarType.Float16, DenseKdActivation.Softmax)]
    [InlineData(ScalarType.BFloat16, DenseKdActivation.Softmax)]
    public void Half_precision_inputs_are_accumulated_in_float32(ScalarType halfType, DenseKdActivation activation)
    {
        using var scope = torch.NewDisposeScope();
        var (students, teachers, weights) = DenseKdInputs.Random(2, 3, 4, ScalarType.Float32, softWeights: true, Levels);
        Tensor[] Half(Tensor[] tensors) => tensors.Select(t => t.to_type(halfType)).ToArray();
        var (halfStudents, halfTeachers, halfWeights) = (Half(students), Half(teachers), Half(weights));
        using var loss = new DecoupledDenseKdLoss(new DecoupledDenseKdLossOptions
        {
            Classes = 4, AnchorsPerLocation = 3, Activation = activation, ObjectTemperature = 2, BackgroundTemperature = 0.5,
        });

        var half = loss.call(halfStudents, halfTeachers, halfWeights);

        half.Total.dtype.Should().Be(ScalarType.Float32);
        // Same (rounded) input values in double: only the float32 accumulation differs.
        var (exactObject, exactBackground) = NaiveDenseKdOracle.Loss(
            NaiveDenseKdOracle.Levels(halfStudents, halfTeachers, halfWeights, 3), activation, 2, 2, 2, 0.5);
        FeatureLossOracle.RelativeError(half.Object.ToDouble(), exactObject).Should().BeLessThanOrEqualTo(1e-5);
        FeatureLossOracle.RelativeError(half.Background.ToDouble(), exactBackground).Should().BeLessThanOrEqualTo(1e-5);
    }

    [Fact]
    public void Float64_inputs_stay_float64_and_a_float64_level_makes_the_whole_loss_float64()
    {
        using var scope = torch.NewDisposeScope();
        var (students, teachers, weights) = DenseKdInputs.Random(2, 1, 3, ScalarType.Float64, softWeights: true, new(3, 3), new(2, 2));
        using var loss = new DecoupledDenseKdLoss(new DecoupledDenseKdLossOptions { Classes = 3 });

        var result = loss.call(students, teachers, weights);
        // Only the teacher's second level in float64, the rest float32.
        var mixed = loss.call(
            students.Select(t => t.to_type(ScalarType.Float32)).ToArray(),
            [teachers[0].to_type(ScalarType.Float32), teachers[1]],
            weights.Select(t => t.to_type(ScalarType.Float32)).ToArray());

        result.Total.dtype.Should().Be(ScalarType.Float64);
        mixed.Total.dtype.Should().Be(ScalarType.Float64);
        var (expectedObject, expectedBackground) = NaiveDenseKdOracle.Loss(
            NaiveDenseKdOracle.Levels(students, teachers, weights, 1), DenseKdActivation.Sigmoid, 2, 2, 1, 1);
        FeatureLossOracle.RelativeError(result.Object.ToDouble(), expectedObject).Should().BeLessThanOrEqualTo(1e-12);
        FeatureLossOracle.RelativeError(result.Background.ToDouble(), expectedBackground).Should().BeLessThanOrEqualTo(1e-12);
    }

    [CudaFact]
    public void Cuda_float16_inputs_give_the_cpu_result_in_float32_on_the_device()
    {
        using var scope = torch.NewDisposeScope();
        var (students, teachers, weights) = DenseKdInputs.Random(2, 3, 4, ScalarType.Float32, softWeights: true, Levels);
        using var loss = new DecoupledDenseKdLoss(new DecoupledDenseKdLossOptions { Classes = 4, AnchorsPerLocation = 3 });
        var cpu = loss.call(students, teachers, weights);

        Tensor[] OnCuda(IEnumerable<Tensor> tensors) => tensors.Select(t => t.to(torch.CUDA).to_type(ScalarType.Float16)).ToArray();
        var cuda = loss.call(OnCuda(students), OnCuda(teachers), OnCuda(weights));

        cuda.Total.device_type.Should().Be(DeviceType.CUDA);
        cuda.Total.dtype.Should().Be(ScalarType.Float32);
        FeatureLossOracle.RelativeError(cuda.Object.cpu().ToDouble(), cpu.Object.ToDouble()).Should().BeLessThanOrEqualTo(2e-2);
        FeatureLossOracle.RelativeError(cuda.Background.cpu().ToDouble(), cpu.Background.ToDouble()).Should().BeLessThanOrEqualTo(2e-2);
    }
}
