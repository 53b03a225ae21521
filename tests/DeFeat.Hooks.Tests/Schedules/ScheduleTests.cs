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

    [Theory]
    [InlineData(0, 1.5)] // 1.5 · (1 + 0/4)
    [InlineData(2, 2.25)] // 1.5 · (1 + 2/4)
    [InlineData(4, 3.0)] // the peak, twice the start
    [InlineData(7, 1.5)] // 1.5 · (2 − 2 · 3/6)
    [InlineData(10, 0.0)]
    [InlineData(15, 0.0)]
    public void Up_down(long step, double expected) => new UpDownSchedule(4, 10, 1.5).WeightAt(step).Should().BeApproximately(expected, 1e-12);

    [Theory]
    [InlineData(0, 0.0)]
    [InlineData(1, 0.0)]
    [InlineData(2, 0.8)] // the decay's own value at step 2 (its clock is not shifted)
    [InlineData(9, 0.1)]
    [InlineData(10, 0.0)]
    public void Delayed_start(long step, double expected)
        => new DelayedStartSchedule(2, new LinearDecaySchedule(10)).WeightAt(step).Should().BeApproximately(expected, 1e-12);

    [Theory]
    [InlineData(0, 1.0)]
    [InlineData(99, 1.0)] // still epoch 0
    [InlineData(100, 0.75)] // epoch 1 of 4: 1 − 1/4
    [InlineData(250, 0.5)]
    [InlineData(399, 0.25)]
    [InlineData(400, 0.0)]
    public void Per_epoch_counts_whole_epochs(long iteration, double expected)
        => new PerEpochSchedule(new LinearDecaySchedule(4), iterationsPerEpoch: 100).WeightAt(iteration).Should().BeApproximately(expected, 1e-12);

    [Fact]
    public void The_official_warm_up_then_decay_per_epoch_composes()
    {
        // KD off for epoch 0, then 1 − e/E over E = 3 epochs of 10 iterations: 0 ×10, 2/3 ×10, 1/3 ×10, 0 after.
        var schedule = new PerEpochSchedule(new DelayedStartSchedule(1, new LinearDecaySchedule(3)), iterationsPerEpoch: 10);

        Enumerable.Range(0, 40).Select(i => schedule.WeightAt(i)).Should().Equal(
            Enumerable.Repeat(0.0, 10).Concat(Enumerable.Repeat(1 - (1 / 3.0), 10)).Concat(Enumerable.Repeat(1 - (2 / 3.0), 10)).Concat(Enumerable.Repeat(0.0, 10)),
            (a, b) => Math.Abs(a - b) < 1e-12);
    }

    [Fact]
    public void Invalid_arguments_are_rejected()
    {
        ((Action)(() => new ConstantSchedule(-1))).Should().Throw<ArgumentOutOfRangeException>();
        ((Action)(() => new LinearWarmupSchedule(0))).Should().Throw<ArgumentOutOfRangeException>();
        ((Action)(() => new LinearDecaySchedule(5, double.NaN))).Should().Throw<ArgumentOutOfRangeException>();
        ((Action)(() => new CosineDecaySchedule(-3))).Should().Throw<ArgumentOutOfRangeException>();
        ((Action)(() => new ConstantSchedule().WeightAt(-1))).Should().Throw<ArgumentOutOfRangeException>();
        ((Action)(() => new UpDownSchedule(5, 5))).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("totalSteps");
        ((Action)(() => new UpDownSchedule(0, 5))).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("turningStep");
        ((Action)(() => new DelayedStartSchedule(-1, new ConstantSchedule()))).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("offSteps");
        ((Action)(() => new DelayedStartSchedule(1, null!))).Should().Throw<ArgumentNullException>().WithParameterName("schedule");
        ((Action)(() => new PerEpochSchedule(new ConstantSchedule(), 0))).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("iterationsPerEpoch");
    }
}
