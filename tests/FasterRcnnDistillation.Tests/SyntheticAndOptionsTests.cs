using FasterRcnnDistillation.Cli;
using FasterRcnnDistillation.Data;

namespace FasterRcnnDistillation.Tests;

public class SyntheticAndOptionsTests
{
    [Fact]
    public void Synthetic_data_is_deterministic_and_boxes_lie_inside_the_image()
    {
        var a = SyntheticShapes.Generate(6, seed: 3, imageSize: 96);
        var b = SyntheticShapes.Generate(6, seed: 3, imageSize: 96);

        for (int i = 0; i < a.Count; i++)
        {
            a.Samples[i].Pixels.Should().Equal(b.Samples[i].Pixels);
            a.Samples[i].Boxes.Should().Equal(b.Samples[i].Boxes);
            a.Samples[i].ObjectCount.Should().BeInRange(1, 5);
            a.Samples[i].Boxes.Should().OnlyContain(v => v >= 0 && v <= 96);
            a.Samples[i].Labels.Should().OnlyContain(l => l >= 0 && l < 5);
        }
    }

    [Fact]
    public void Train_and_val_splits_differ()
    {
        var (train, val) = SyntheticShapes.Splits(2, 2, dataSeed: 1, imageSize: 64);

        train.Samples[0].Pixels.Should().NotEqual(val.Samples[0].Pixels);
    }

    [Fact]
    public void Options_parse_commands_and_flags()
    {
        var options = SampleOptions.Parse(new[] { "distill", "--seed", "3", "--background-weight", "0", "--proposal-kd", "off", "--epochs", "2" });

        options.Command.Should().Be("distill");
        options.Seed.Should().Be(3);
        options.BackgroundWeight.Should().Be(0);
        options.ProposalKd.Should().BeFalse();
        options.StudentEpochs.Should().Be(2);
        SampleOptions.Parse(Array.Empty<string>()).Command.Should().Be("compare");
        SampleOptions.Parse(new[] { "distill", "--proposal-kd", "on" }).ProposalKd.Should().BeTrue();
        var defaults = SampleOptions.Parse(new[] { "compare" });
        (defaults.ObjectWeight, defaults.BackgroundWeight, defaults.ProposalKd, defaults.KdBalance).Should().Be((3.0, 0.0, false, (double?)null), "the setting RESULTS.md chose: object-only imitation, no balance, no proposal KD");
    }

    [Theory]
    [InlineData("train")]
    [InlineData("--seed", "x")]
    [InlineData("--proposal-kd", "maybe")]
    [InlineData("--background-weight", "-1")]
    [InlineData("--unknown", "1")]
    [InlineData("--seed")]
    public void Bad_arguments_are_rejected_with_their_name(params string[] args)
        => FluentActions.Invoking(() => SampleOptions.Parse(args)).Should().Throw<ArgumentException>();
}
