using DeFeat.Losses.Features;
using DeFeat.Losses.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Features;

public class PkdLossValueTests
{
    private static Tensor Map(params float[] values) => torch.tensor(values).reshape(1, 1, 1, values.Length);

    [Fact]
    public void Hand_computed_correlations()
    {
        using var scope = torch.NewDisposeScope();
        using var loss = new PkdLoss();

        // N = 2: S = [0, 2] → μ = 1, σ = √2, norm = [−1/√2, 1/√2]; T = [1, 0] → norm = [1/√2, −1/√2].
        // (norm S − norm T)² = [2, 2], mean 2, /2 = 1 (= (N − 1)/N · (1 − r) with r = −1).
        loss.call([Map(0, 2)], [Map(1, 0)]).ToDouble().Should().BeApproximately(1, 1e-5);
        // Perfectly correlated (r = 1): 0.
        loss.call([Map(0, 2)], [Map(-7, 5)]).ToDouble().Should().BeApproximately(0, 1e-5);
        // N = 3: S = [1, 2, 3], T = [1, 3, 2]: r = ½, loss = (2/3)·(1 − ½) = 1/3.
        loss.call([Map(1, 2, 3)], [Map(1, 3, 2)]).ToDouble().Should().BeApproximately(1.0 / 3, 1e-5);
    }

    [Fact]
    public void Levels_are_summed_and_weighted()
    {
        using var scope = torch.NewDisposeScope();
        using var loss = new PkdLoss(new PkdLossOptions { LossWeight = 3 });

        var result = loss.call([Map(0, 2), Map(1, 2, 3)], [Map(1, 0), Map(1, 3, 2)]);

        // 3 · (1 + 1/3) = 4: a sum over levels, not a mean.
        result.ToDouble().Should().BeApproximately(4, 1e-5);
        result.shape.Should().BeEmpty();
        result.dtype.Should().Be(ScalarType.Float32);
    }

    [Fact]
    public void Statistics_are_taken_over_the_batch_by_default_and_per_image_on_request()
    {
        // Two images of one channel: S = [0, 2] and [10, 12], T = [0, 2] and [12, 10].
        // Per image: image 1 r = 1 (0), image 2 r = −1 (mean of 2·... = 1 per element / 2): loss = (0 + 2) / 2 / 2 = ½.
        // Over the batch (N = 4): S − μ = [−6, −4, 4, 6], T − μ = [−6, −4, 6, 4]: r = (36 + 16 + 24 + 24) / 104 = 100/104,
        // loss = (3/4)·(1 − 100/104) = 3/104.
        using var scope = torch.NewDisposeScope();
        var student = torch.tensor(new float[] { 0, 2, 10, 12 }).reshape(2, 1, 1, 2);
        var teacher = torch.tensor(new float[] { 0, 2, 12, 10 }).reshape(2, 1, 1, 2);
        using var pooled = new PkdLoss();
        using var perSample = new PkdLoss(new PkdLossOptions { NormalizePerSample = true });

        pooled.call([student], [teacher]).ToDouble().Should().BeApproximately(3.0 / 104, 1e-5);
        perSample.call([student], [teacher]).ToDouble().Should().BeApproximately(0.5, 1e-5);
    }

    [Theory]
    [InlineData(false, 1.0)]
    [InlineData(true, 2.5)]
    public void Random_levels_match_the_managed_reference(bool perSample, double weight)
    {
        using var scope = torch.NewDisposeScope();
        Tensor[] students = [torch.randn(2, 4, 6, 5) * 3 + 1, torch.randn(2, 3, 3, 3), torch.randn(2, 2, 2, 1)];
        Tensor[] teachers = [torch.randn(2, 4, 6, 5), torch.randn(2, 3, 3, 3) * 0.1, torch.randn(2, 2, 2, 1) - 4];
        using var loss = new PkdLoss(new PkdLossOptions { LossWeight = weight, NormalizePerSample = perSample });

        var expected = NaivePkdOracle.Loss(NaivePkdOracle.Levels(students, teachers), weight, perSample);

        FeatureLossOracle.RelativeError(loss.call(students, teachers).ToDouble(), expected).Should().BeLessThanOrEqualTo(1e-5);
    }

    [Theory]
    [InlineData(6, 8, 3, 4, true)] // student larger: downsampled to the teacher
    [InlineData(3, 4, 6, 8, true)] // student smaller: upsampled
    [InlineData(4, 6, 4, 3, true)] // width only (mmrazor compares the heights only; this loss resizes)
    [InlineData(6, 8, 3, 4, false)] // the teacher resized to the student's size instead
    [InlineData(5, 3, 7, 4, false)]
    public void Different_spatial_sizes_are_resized_bilinearly_as_documented(int sh, int sw, int th, int tw, bool resizeStudent)
    {
        using var scope = torch.NewDisposeScope();
        var student = torch.randn(2, 3, sh, sw);
        var teacher = torch.randn(2, 3, th, tw);
        using var loss = new PkdLoss(new PkdLossOptions { ResizeStudent = resizeStudent });

        var expected = NaivePkdOracle.Loss([NaivePkdOracle.Level(student, teacher, resizeStudent)], 1, perSample: false);

        FeatureLossOracle.RelativeError(loss.call([student], [teacher]).ToDouble(), expected).Should().BeLessThanOrEqualTo(1e-5);
    }

    [Theory]
    [InlineData(6, 8, 3, 4)]
    [InlineData(3, 4, 7, 9)]
    [InlineData(5, 5, 5, 2)]
    public void The_oracles_bilinear_resize_is_torchs_with_align_corners_false(int height, int width, int outHeight, int outWidth)
    {
        using var scope = torch.NewDisposeScope();
        var input = torch.randn(2, 3, height, width, dtype: ScalarType.Float64);

        var torchResized = nn.functional.interpolate(input, [outHeight, outWidth], mode: InterpolationMode.Bilinear, align_corners: false);

        NaivePkdOracle.Resize(FeatureLossOracle.Values(input), 2, 3, height, width, outHeight, outWidth)
            .Should().Equal(FeatureLossOracle.Values(torchResized), (a, b) => Math.Abs(a - b) <= 1e-12);
    }

    [Fact]
    public void A_constant_channel_gives_finite_values_and_gradients()
    {
        // Teacher constant: σ = 0, norm T = 0 (ε keeps it finite); loss = mean(norm S²)/2 = ((N − 1)/N)/2 = (3/4)/2.
        using var scope = torch.NewDisposeScope();
        var student = torch.tensor(new float[] { 1, 4, -2, 0 }).reshape(1, 1, 2, 2).requires_grad_();
        using var loss = new PkdLoss();

        var result = loss.call([student], [torch.full(1, 1, 2, 2, 3f)]);
        result.backward();

        result.ToDouble().Should().BeApproximately(0.375, 1e-5);
        student.grad!.isfinite().all().item<bool>().Should().BeTrue();
    }

    [Fact]
    public void The_teacher_gets_no_gradient()
    {
        using var scope = torch.NewDisposeScope();
        var student = torch.randn(2, 3, 4, 4).requires_grad_();
        var teacher = torch.randn(2, 3, 2, 2).requires_grad_();
        using var loss = new PkdLoss(new PkdLossOptions { ResizeStudent = false });

        loss.call([student], [teacher]).backward();

        teacher.grad.Should().BeNull();
        student.grad.Should().NotBeNull();
    }

    [Fact]
    public void Default_options_are_mmrazors()
    {
        var options = new PkdLoss().Options;

        options.LossWeight.Should().Be(1);
        options.ResizeStudent.Should().BeTrue();
        options.NormalizePerSample.Should().BeFalse();
        PkdLossOptions.Epsilon.Should().Be(1e-6);
    }
}
