using DeFeat.Hooks.Schedules;

namespace DeFeat.Hooks.Tests.Schedules;

public class ScheduleTests
{
    [Theory]
    [InlineData(0, 2.0)]
    [InlineData(7, 2.0)]
    [InlineData(100000, 2.0)]
    public void Constant(long step, double expected) => new ConstantSchedule(2.0).WeightAt(step).Should().Be(expected);

    [Theory]
    [InlineData(0, 0.0)]
    [InlineData(1, 0.75)]
    [InlineData(2, 1.5)]
    [InlineData(4, 3.0)]
    [InlineData(9, 3.0)]
    public void Linear_warmup(long step, double expected) => new LinearWarmupSchedule(4, 3.0).WeightAt(step).Should().BeApproximately(expected, 1e-12);

    [Theory]
    [InlineData(0, 1.0)]
    [InlineData(3, 0.7)]
    [InlineData(5, 0.5)]
    [InlineData(10, 0.0)]
    [InlineData(12, 0.0)]
    public void Linear_decay(long step, double expected) => new LinearDecaySchedule(10).WeightAt(step).Should().BeApproximately(expected, 1e-12);

    [Theory]
    [InlineData(0, 4.0)]
    [InlineData(2, 2.0 + 1.4142135623730951)] // 4 · ½ · (1 + cos(π/4))
    [InlineData(4, 2.0)]
    [InlineData(6, 2.0 - 1.4142135623730951)]
    [InlineData(8, 0.0)]
    [InlineData(20, 0.0)]
    public void Cosine_decay(long step, double expected) => new CosineDecaySchedule(8, 4.0).WeightAt(step).Should().BeApproximately(expected, 1e-12);

    [Fact]
    public void Invalid_arguments_are_rejected()
    {
        ((Action)(() => new ConstantSchedule(-1))).Should().Throw<ArgumentOutOfRangeException>();
        ((Action)(() => new LinearWarmupSchedule(0))).Should().Throw<ArgumentOutOfRangeException>();
        ((Action)(() => new LinearDecaySchedule(5, double.NaN))).Should().Throw<ArgumentOutOfRangeException>();
        ((Action)(() => new CosineDecaySchedule(-3))).Should().Throw<ArgumentOutOfRangeException>();
        ((Action)(() => new ConstantSchedule().WeightAt(-1))).Should().Throw<ArgumentOutOfRangeException>();
    }
}
