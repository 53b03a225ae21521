using DeFeat.Losses.Features;
using DeFeat.Losses.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Features;

public class PkdLossPrecisionTests
{
    [Theory]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.BFloat16)]
    public void Half_precision_inputs_are_resized_and_normalised_in_float32(ScalarType halfType)
    {
        using var scope = torch.NewDisposeScope();
        // Large offsets and scales: a half-precision mean and variance would lose most digits.
        Tensor[] students = [(torch.randn(2, 8, 12, 10) * 40 + 200).to_type(halfType), torch.randn(2, 4, 5, 4).to_type(halfType)];
        Tensor[] teachers = [(torch.randn(2, 8, 6, 5) * 0.01).to_type(halfType), (torch.randn(2, 4, 5, 4) - 30).to_type(halfType)];
        using var loss = new PkdLoss();

        var result = loss.call(students, teachers);

        result.dtype.Should().Be(ScalarType.Float32);
        // Same (rounded) input values in double: only the float32 computation differs.
        var expected = NaivePkdOracle.Loss(NaivePkdOracle.Levels(students, teachers), 1, perSample: false);
        FeatureLossOracle.RelativeError(result.ToDouble(), expected).Should().BeLessThanOrEqualTo(1e-5);
    }

    [Fact]
    public void Float64_inputs_stay_float64_and_a_float64_level_makes_the_whole_loss_float64()
    {
        using var scope = torch.NewDisposeScope();
        Tensor[] students = [torch.randn(2, 3, 4, 4, dtype: ScalarType.Float64), torch.randn(2, 3, 2, 2, dtype: ScalarType.Float64)];
        Tensor[] teachers = [torch.randn(2, 3, 4, 4, dtype: ScalarType.Float64), torch.randn(2, 3, 2, 2, dtype: ScalarType.Float64)];
        using var loss = new PkdLoss();

        var result = loss.call(students, teachers);
        var mixed = loss.call([students[0].to_type(ScalarType.Float32), students[1]], teachers.Select(t => t.to_type(ScalarType.Float32)).ToArray());

        result.dtype.Should().Be(ScalarType.Float64);
        mixed.dtype.Should().Be(ScalarType.Float64);
        FeatureLossOracle.RelativeError(result.ToDouble(), NaivePkdOracle.Loss(NaivePkdOracle.Levels(students, teachers), 1, false))
            .Should().BeLessThanOrEqualTo(1e-12);
    }

    [CudaFact]
    public void Cuda_float16_inputs_give_the_cpu_result_in_float32_on_the_device()
    {
        using var scope = torch.NewDisposeScope();
        Tensor[] students = [torch.randn(2, 8, 12, 10), torch.randn(2, 4, 6, 5)];
        Tensor[] teachers = [torch.randn(2, 8, 6, 5), torch.randn(2, 4, 6, 5)];
        using var loss = new PkdLoss();
        var cpu = loss.call(students, teachers);

        Tensor[] OnCuda(IEnumerable<Tensor> tensors) => tensors.Select(t => t.to(torch.CUDA).to_type(ScalarType.Float16)).ToArray();
        var cuda = loss.call(OnCuda(students), OnCuda(teachers));

        cuda.device_type.Should().Be(DeviceType.CUDA);
        cuda.dtype.Should().Be(ScalarType.Float32);
        FeatureLossOracle.RelativeError(cuda.cpu().ToDouble(), cpu.ToDouble()).Should().BeLessThanOrEqualTo(2e-2);
    }
}
