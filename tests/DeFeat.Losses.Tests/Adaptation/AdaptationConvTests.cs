using DeFeat.Losses.Adaptation;
using DeFeat.Losses.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Adaptation;

public sealed class AdaptationConvTests : IDisposable
{
    private readonly DisposeScope scope = torch.NewDisposeScope();

    public void Dispose() => scope.Dispose();

    [Fact]
    public void Weights_follow_the_official_initialisation()
    {
        using var adapter = new AdaptationConv(256, 256);
        var weights = FeatureLossOracle.Values(adapter.Weight);

        // w = fmod(z, 2)·1e-4 with z ~ N(0, 1): |w| < 2e-4, mean 0 and standard deviation √E[fmod(z, 2)²]·1e-4
        // = 0.8659e-4 (numerical integration of fmod(z, 2)² against the normal density over [−12, 12]).
        var mean = weights.Average();
        var std = Math.Sqrt(weights.Sum(w => (w - mean) * (w - mean)) / weights.Length);
        weights.Length.Should().Be(256 * 256 * 9);
        weights.Max(Math.Abs).Should().BeLessThanOrEqualTo(2e-4);
        mean.Should().BeApproximately(0, 1e-6);
        std.Should().BeApproximately(0.8659e-4, 0.02e-4);
    }

    [Fact]
    public void Shapes_channels_and_the_default_bias_are_exposed()
    {
        using var adapter = new AdaptationConv(16, 24);

        adapter.InChannels.Should().Be(16);
        adapter.OutChannels.Should().Be(24);
        adapter.Weight.shape.Should().Equal(24, 16, 3, 3);
        adapter.Bias.shape.Should().Equal(24);
        adapter.Weight.requires_grad.Should().BeTrue();
        adapter.Bias.requires_grad.Should().BeTrue();
        // TorchSharp's default bias init: uniform in ±1/√(fan_in) = ±1/√(16·9) = ±1/12.
        var bias = FeatureLossOracle.Values(adapter.Bias);
        bias.Max(Math.Abs).Should().BeLessThanOrEqualTo(1.0 / 12);
        bias.Should().Contain(b => b != 0);
        adapter.parameters().Should().HaveCount(2);
    }

    [Fact]
    public void Forward_is_a_padded_3x3_convolution()
    {
        using var adapter = new AdaptationConv(3, 2);
        using (torch.no_grad())
        {
            adapter.Weight.normal_(0.0, 1.0);
        }

        var input = torch.randn(2, 3, 5, 4);

        var output = adapter.call(input);

        output.shape.Should().Equal(2, 2, 5, 4);
        var expected = FeatureLossOracle.Conv3x3(
            FeatureLossOracle.Values(input), 2, 3, 5, 4, FeatureLossOracle.Values(adapter.Weight), FeatureLossOracle.Values(adapter.Bias), 2);
        FeatureLossOracle.Values(output).Should().Equal(expected, (a, e) => Math.Abs(a - e) <= 1e-5 * Math.Max(1, Math.Abs(e)));
    }

    [Theory]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float64)]
    public void Inputs_of_another_floating_dtype_are_cast_to_the_parameters_dtype(ScalarType inputType)
    {
        using var adapter = new AdaptationConv(3, 4);
        var input = torch.randn(1, 3, 4, 4).to_type(inputType);

        var output = adapter.call(input);

        output.dtype.Should().Be(ScalarType.Float32);
        var expected = adapter.call(input.to_type(ScalarType.Float32));
        FeatureLossOracle.Values(output).Should().Equal(FeatureLossOracle.Values(expected));
    }

    [Fact]
    public void A_float64_adapter_returns_float64()
    {
        using var adapter = new AdaptationConv(2, 2);
        adapter.to(ScalarType.Float64);

        adapter.call(torch.randn(1, 2, 3, 3)).dtype.Should().Be(ScalarType.Float64);
    }

    [Fact]
    public void A_dtype_given_to_the_constructor_creates_the_parameters_in_it_with_the_official_initialisation()
    {
        using var adapter = new AdaptationConv(16, 32, dtype: ScalarType.Float64);
        var input = torch.randn(2, 16, 5, 4, ScalarType.Float64);

        var output = adapter.call(input);

        adapter.parameters().Should().OnlyContain(parameter => parameter.dtype == ScalarType.Float64 && parameter.device_type == DeviceType.CPU);
        adapter.Weight.requires_grad.Should().BeTrue();
        var weights = FeatureLossOracle.Values(adapter.Weight);
        weights.Max(Math.Abs).Should().BeLessThanOrEqualTo(2e-4);
        weights.Should().Contain(w => w != 0);
        FeatureLossOracle.Values(adapter.Bias).Max(Math.Abs).Should().BeLessThanOrEqualTo(1.0 / 12, "TorchSharp's default bias init: ±1/√(16·9)");
        output.dtype.Should().Be(ScalarType.Float64);
        var expected = FeatureLossOracle.Conv3x3(
            FeatureLossOracle.Values(input), 2, 16, 5, 4, FeatureLossOracle.Values(adapter.Weight), FeatureLossOracle.Values(adapter.Bias), 32);
        FeatureLossOracle.Values(output).Should().Equal(expected, (a, e) => Math.Abs(a - e) <= 1e-12 * Math.Max(1, Math.Abs(e)));
    }

    [Fact]
    public void A_device_given_to_the_constructor_holds_the_parameters()
    {
        using var adapter = new AdaptationConv(3, 4, torch.CPU);

        adapter.parameters().Should().OnlyContain(parameter => parameter.device_type == DeviceType.CPU && parameter.dtype == ScalarType.Float32);
    }

    [CudaFact]
    public void A_cuda_device_and_bfloat16_given_to_the_constructor_hold_the_parameters_and_forward_runs_there()
    {
        using var adapter = new AdaptationConv(3, 4, torch.CUDA, ScalarType.BFloat16);
        var input = torch.randn(1, 3, 4, 4, device: torch.CUDA);

        var output = adapter.call(input);

        adapter.parameters().Should().OnlyContain(parameter => parameter.device_type == DeviceType.CUDA && parameter.dtype == ScalarType.BFloat16);
        output.device_type.Should().Be(DeviceType.CUDA);
        output.dtype.Should().Be(ScalarType.BFloat16);
        var expected = nn.functional.conv2d(input.to_type(ScalarType.BFloat16), adapter.Weight, adapter.Bias, padding: [1, 1]);
        output.allclose(expected, rtol: 0, atol: 0).Should().BeTrue();
    }

    [Fact]
    public void A_dtype_that_is_not_floating_point_is_rejected()
        => FluentActions.Invoking(() => new AdaptationConv(3, 4, dtype: ScalarType.Int64))
            .Should().Throw<ArgumentException>().WithParameterName("dtype").WithMessage("dtype must be a floating-point dtype; got Int64.*");

    [Fact]
    public void Channel_counts_must_be_positive()
    {
        FluentActions.Invoking(() => new AdaptationConv(0, 4))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName("inChannels");
        FluentActions.Invoking(() => new AdaptationConv(4, -1))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName("outChannels");
    }

    [Fact]
    public void Inputs_that_do_not_fit_are_rejected()
    {
        using var adapter = new AdaptationConv(3, 4);

        adapter.Invoking(a => a.call(torch.zeros(1, 2, 4, 4)))
            .Should().Throw<ArgumentException>().WithParameterName("input").WithMessage("*3 channels*got shape [1, 2, 4, 4]*");
        adapter.Invoking(a => a.call(torch.zeros(3, 4, 4)))
            .Should().Throw<ArgumentException>().WithParameterName("input").WithMessage("*4-D*got shape [3, 4, 4]*");
        adapter.Invoking(a => a.call(torch.zeros(1, 3, 4, 4, ScalarType.Int64)))
            .Should().Throw<ArgumentException>().WithParameterName("input").WithMessage("*floating-point*Int64*");
        adapter.Invoking(a => a.call(torch.zeros(1, 3, 4, 4).to(new Device(DeviceType.META))))
            .Should().Throw<ArgumentException>().WithParameterName("input").WithMessage("*device cpu*got meta*");
    }
}
