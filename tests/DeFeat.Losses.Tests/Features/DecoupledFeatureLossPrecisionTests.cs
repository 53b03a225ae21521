using DeFeat.Losses.Adaptation;
using DeFeat.Losses.Features;
using DeFeat.Losses.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Features;

public class DecoupledFeatureLossPrecisionTests
{
    private static readonly LevelShape[] Levels = [new(8, 8, 12, 10), new(4, 4, 6, 5), new(2, 2, 3, 3)];

    [Theory]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.BFloat16)]
    public void Half_precision_inputs_give_the_float32_result(ScalarType halfType)
    {
        using var scope = torch.NewDisposeScope();
        var (students, teachers, masks) = FeatureLossInputs.Random(2, ScalarType.Float32, softMasks: true, Levels);
        var halfStudents = students.Select(t => t.to_type(halfType)).ToArray();
        var halfTeachers = teachers.Select(t => t.to_type(halfType)).ToArray();
        var halfMasks = masks.Select(t => t.to_type(halfType)).ToArray();
        using var loss = new DecoupledFeatureLoss();

        var half = loss.call(halfStudents, halfTeachers, halfMasks);

        half.Total.dtype.Should().Be(ScalarType.Float32);
        // Same (rounded) input values in double: only the float32 accumulation differs.
        var (exactObject, exactBackground) = FeatureLossOracle.Loss(
            FeatureLossOracle.Levels(halfStudents, halfTeachers, halfMasks), 4, 16);
        FeatureLossOracle.RelativeError(half.Object.ToDouble(), exactObject).Should().BeLessThanOrEqualTo(1e-5);
        FeatureLossOracle.RelativeError(half.Background.ToDouble(), exactBackground).Should().BeLessThanOrEqualTo(1e-5);
        // Against the float32 inputs: only the rounding of the inputs to half precision differs.
        var full = loss.call(students, teachers, masks);
        FeatureLossOracle.RelativeError(half.Object.ToDouble(), full.Object.ToDouble()).Should().BeLessThanOrEqualTo(2e-2);
        FeatureLossOracle.RelativeError(half.Background.ToDouble(), full.Background.ToDouble()).Should().BeLessThanOrEqualTo(2e-2);
    }

    [Fact]
    public void Float16_differences_whose_square_overflows_float16_stay_finite()
    {
        using var scope = torch.NewDisposeScope();
        // |S − T| = 300: 300² = 90,000 exceeds float16's maximum (65,504), so a float16 square would be +inf.
        var student = torch.full(1, 1, 2, 2, 150f, ScalarType.Float16);
        var teacher = torch.full(1, 1, 2, 2, -150f, ScalarType.Float16);
        var mask = torch.tensor(new float[] { 1, 0, 0, 0 }, ScalarType.Float16).reshape(1, 2, 2);
        using var loss = new DecoupledFeatureLoss(new DecoupledFeatureLossOptions { ObjectWeight = 1, BackgroundWeight = 1 });

        var result = loss.call([student], [teacher], [mask]);

        // Object: 90,000 / max(1, 2·1·1) = 45,000. Background: 3·90,000 / (2·1·3) = 45,000.
        result.Object.ToDouble().Should().Be(45_000);
        result.Background.ToDouble().Should().Be(45_000);
    }

    [Theory]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.BFloat16)]
    public void Half_precision_student_features_go_through_float32_adapters(ScalarType halfType)
    {
        using var scope = torch.NewDisposeScope();
        var (students, teachers, masks) = FeatureLossInputs.Random(2, ScalarType.Float32, softMasks: false, [new(3, 5, 4, 4), new(2, 4, 3, 3)]);
        var halfStudents = students.Select(t => t.to_type(halfType)).ToArray();
        using var adapters = new FeatureAdapters([3, 2], [5, 4]);
        using var loss = new DecoupledFeatureLoss(adapters: adapters);

        var result = loss.call(halfStudents, teachers.Select(t => t.to_type(halfType)).ToArray(), masks);

        result.Total.dtype.Should().Be(ScalarType.Float32);
        var (expectedObject, expectedBackground) = FeatureLossOracle.Loss(
            FeatureLossOracle.Levels(halfStudents, teachers.Select(t => t.to_type(halfType)).ToArray(), masks, adapters), 4, 16);
        FeatureLossOracle.RelativeError(result.Object.ToDouble(), expectedObject).Should().BeLessThanOrEqualTo(1e-5);
        FeatureLossOracle.RelativeError(result.Background.ToDouble(), expectedBackground).Should().BeLessThanOrEqualTo(1e-5);
    }

    [FeatureLossCudaFact]
    public void Cuda_float16_inputs_give_the_cpu_float32_result_on_the_device()
    {
        using var scope = torch.NewDisposeScope();
        var (students, teachers, masks) = FeatureLossInputs.Random(2, ScalarType.Float32, softMasks: true, Levels);
        var shapes = Levels.Select(l => l.StudentChannels).ToArray();
        using var adapters = new FeatureAdapters(shapes, shapes);
        using var loss = new DecoupledFeatureLoss(adapters: adapters);
        var cpu = loss.call(students, teachers, masks);

        loss.to(torch.CUDA);
        Tensor[] OnCuda(IEnumerable<Tensor> tensors) => tensors.Select(t => t.to(torch.CUDA).to_type(ScalarType.Float16)).ToArray();
        var cuda = loss.call(OnCuda(students), OnCuda(teachers), OnCuda(masks));

        cuda.Total.device_type.Should().Be(DeviceType.CUDA);
        cuda.Total.dtype.Should().Be(ScalarType.Float32);
        FeatureLossOracle.RelativeError(cuda.Object.cpu().ToDouble(), cpu.Object.ToDouble()).Should().BeLessThanOrEqualTo(2e-2);
        FeatureLossOracle.RelativeError(cuda.Background.cpu().ToDouble(), cpu.Background.ToDouble()).Should().BeLessThanOrEqualTo(2e-2);
    }
}
