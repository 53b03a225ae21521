using DeFeat.Losses.Adaptation;
using DeFeat.Losses.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Adaptation;

public sealed class FeatureAdaptersTests : IDisposable
{
    private readonly DisposeScope scope = torch.NewDisposeScope();

    public void Dispose() => scope.Dispose();

    [Fact]
    public void One_adapter_per_level_with_its_own_channel_counts()
    {
        using var adapters = new FeatureAdapters([64, 128, 32], [256, 256, 16]);

        adapters.LevelCount.Should().Be(3);
        adapters.StudentChannels.Should().Equal(64, 128, 32);
        adapters.TeacherChannels.Should().Equal(256, 256, 16);
        adapters[1].InChannels.Should().Be(128);
        adapters[1].OutChannels.Should().Be(256);
        adapters[2].Weight.shape.Should().Equal(16, 32, 3, 3);
        adapters.named_parameters().Select(p => p.name).Should().Equal(
            "levels.0.conv.weight", "levels.0.conv.bias",
            "levels.1.conv.weight", "levels.1.conv.bias",
            "levels.2.conv.weight", "levels.2.conv.bias");
    }

    [Fact]
    public void A_device_and_dtype_given_to_the_constructor_reach_every_level()
    {
        using var adapters = new FeatureAdapters([3, 5], [4, 8], torch.CPU, ScalarType.Float64);

        adapters.parameters().Should().HaveCount(4).And.OnlyContain(
            parameter => parameter.dtype == ScalarType.Float64 && parameter.device_type == DeviceType.CPU);
        var adapted = adapters.call([torch.randn(1, 3, 4, 4, ScalarType.Float64), torch.randn(1, 5, 2, 2, ScalarType.Float64)]);
        adapted.Select(level => level.dtype).Should().Equal(ScalarType.Float64, ScalarType.Float64);
    }

    [Fact]
    public void Forward_adapts_every_level_with_its_adapter()
    {
        using var adapters = new FeatureAdapters([3, 2], [4, 5]);
        Tensor[] students = [torch.randn(2, 3, 6, 5), torch.randn(2, 2, 3, 2)];

        var adapted = adapters.call(students);

        adapted.Should().HaveCount(2);
        adapted[0].shape.Should().Equal(2, 4, 6, 5);
        adapted[1].shape.Should().Equal(2, 5, 3, 2);
        for (var l = 0; l < 2; l++)
        {
            var expected = FeatureLossOracle.Conv3x3(
                FeatureLossOracle.Values(students[l]), 2, (int)students[l].shape[1], (int)students[l].shape[2], (int)students[l].shape[3],
                FeatureLossOracle.Values(adapters[l].Weight), FeatureLossOracle.Values(adapters[l].Bias), (int)adapted[l].shape[1]);
            FeatureLossOracle.Values(adapted[l]).Should().Equal(expected, (a, e) => Math.Abs(a - e) <= 1e-6);
        }
    }

    [Fact]
    public void Half_precision_features_go_through_float32_adapters()
    {
        using var adapters = new FeatureAdapters([3], [4]);

        var adapted = adapters.call([torch.randn(1, 3, 4, 4, ScalarType.Float16)]);

        adapted[0].dtype.Should().Be(ScalarType.Float32);
    }

    [Fact]
    public void Invalid_channel_lists_are_rejected()
    {
        FluentActions.Invoking(() => new FeatureAdapters(null!, [1]))
            .Should().Throw<ArgumentNullException>().WithParameterName("studentChannels");
        FluentActions.Invoking(() => new FeatureAdapters([1], null!))
            .Should().Throw<ArgumentNullException>().WithParameterName("teacherChannels");
        FluentActions.Invoking(() => new FeatureAdapters([], []))
            .Should().Throw<ArgumentException>().WithParameterName("studentChannels").WithMessage("*must not be empty*");
        FluentActions.Invoking(() => new FeatureAdapters([1, 2], [1]))
            .Should().Throw<ArgumentException>().WithParameterName("teacherChannels").WithMessage("*2 channel counts*got 1*");
        FluentActions.Invoking(() => new FeatureAdapters([1, 0], [1, 1]))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName("studentChannels[1]");
        FluentActions.Invoking(() => new FeatureAdapters([1, 1], [-2, 1]))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName("teacherChannels[0]");
    }

    [Fact]
    public void Features_that_do_not_fit_the_adapters_are_rejected()
    {
        using var adapters = new FeatureAdapters([3, 2], [4, 4]);

        adapters.Invoking(a => a.call(null!))
            .Should().Throw<ArgumentNullException>().WithParameterName("studentFeatures");
        adapters.Invoking(a => a.call([torch.zeros(1, 3, 4, 4)]))
            .Should().Throw<ArgumentException>().WithParameterName("studentFeatures").WithMessage("*2 feature maps*got 1*");
        adapters.Invoking(a => a.call([torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 2, 2)]))
            .Should().Throw<ArgumentException>().WithParameterName("studentFeatures[1]").WithMessage("*2 channels*got shape [1, 3, 2, 2]*");
    }
}
