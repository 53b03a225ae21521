using DeFeat.Losses.Dense;
using DeFeat.Losses.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Dense;

public class DecoupledDenseKdLossValueTests
{
    private static readonly double Ln2 = Math.Log(2);
    private static readonly double Ln3 = Math.Log(3);

    // Sigmoid, B = 1, A = 1, K = 1, 1×2 map; M = [1, 0].
    //   location 0 (object):     t = 0    -> q = 1/2;  s = ln 3 -> p = 3/4:  KL = ½ ln(½/¾) + ½ ln(½/¼) = ½ ln(4/3)
    //   location 1 (background): t = ln 3 -> q = 3/4;  s = 0    -> p = 1/2:  KL = ¾ ln(¾/½) + ¼ ln(¼/½) = ¾ ln 3 − ln 2
    private static Tensor Student() => torch.tensor(new[] { (float)Ln3, 0f }).reshape(1, 1, 1, 2);

    private static Tensor Teacher() => torch.tensor(new[] { 0f, (float)Ln3 }).reshape(1, 1, 1, 2);

    private static Tensor Mask() => torch.tensor(new float[] { 1, 0 }).reshape(1, 1, 2);

    private static DecoupledDenseKdLoss Loss(int classes = 1, int anchors = 1, DenseKdActivation activation = DenseKdActivation.Sigmoid,
        double objectWeight = 2, double backgroundWeight = 2, double objectTemperature = 1, double backgroundTemperature = 1)
        => new(new DecoupledDenseKdLossOptions
        {
            Classes = classes,
            AnchorsPerLocation = anchors,
            Activation = activation,
            ObjectWeight = objectWeight,
            BackgroundWeight = backgroundWeight,
            ObjectTemperature = objectTemperature,
            BackgroundTemperature = backgroundTemperature,
        });

    [Fact]
    public void Sigmoid_hand_computed_case_at_temperature_1()
    {
        using var scope = torch.NewDisposeScope();
        using var loss = Loss();

        var result = loss.call([Student()], [Teacher()], [Mask()]);

        // Defaults β_obj = β_bg = 2, one anchor in each set: Object = 2·½ ln(4/3) = ln(4/3) ≈ 0.2876820725,
        // Background = 2·(¾ ln 3 − ln 2) ≈ 0.2616240719.
        Math.Log(4.0 / 3).Should().BeApproximately(0.2876820725, 1e-9);
        (2 * (0.75 * Ln3 - Ln2)).Should().BeApproximately(0.2616240719, 1e-9);
        result.Object.ToDouble().Should().BeApproximately(Math.Log(4.0 / 3), 1e-6);
        result.Background.ToDouble().Should().BeApproximately(2 * (0.75 * Ln3 - Ln2), 1e-6);
        result.Total.ToDouble().Should().BeApproximately(Math.Log(4.0 / 3) + 2 * (0.75 * Ln3 - Ln2), 1e-6);
        result.Total.shape.Should().BeEmpty();
        result.Total.dtype.Should().Be(ScalarType.Float32);
    }

    [Fact]
    public void Sigmoid_hand_computed_case_at_temperatures_2_and_half()
    {
        using var scope = torch.NewDisposeScope();
        using var loss = Loss(objectWeight: 1, backgroundWeight: 1, objectTemperature: 2, backgroundTemperature: 0.5);

        var result = loss.call([Student()], [Teacher()], [Mask()]);

        // Object at T = 2: q = σ(0) = ½, p = σ(ln 3 / 2) = √3 / (1 + √3); KL = ½ ln(½/p) + ½ ln(½/(1 − p)), times T² = 4.
        var p = Math.Sqrt(3) / (1 + Math.Sqrt(3));
        var objectKl = 0.5 * Math.Log(0.5 / p) + 0.5 * Math.Log(0.5 / (1 - p));
        // Background at T = ½: q = σ(2 ln 3) = 9/10, p = σ(0) = ½; KL = 0.9 ln 1.8 + 0.1 ln 0.2, times T² = ¼.
        var backgroundKl = 0.9 * Math.Log(1.8) + 0.1 * Math.Log(0.2);
        result.Object.ToDouble().Should().BeApproximately(4 * objectKl, 1e-6);
        result.Background.ToDouble().Should().BeApproximately(0.25 * backgroundKl, 1e-6);
    }

    [Fact]
    public void Softmax_hand_computed_case_reads_the_channels_anchor_major()
    {
        // A = 2, K = 2, one location; channels [a0k0, a0k1, a1k0, a1k1]. Per-anchor weights: a0 object, a1 background.
        //   a0: t = [0, 0] -> q = [½, ½];  s = [ln 3, 0] -> p = [¾, ¼]:  KL = ½ ln(4/3)
        //   a1: t = [ln 3, 0] -> q = [¾, ¼]; s = [0, 0] -> p = [½, ½]:  KL = ¾ ln 3 − ln 2
        // (Read class-major, the channels would give a0 = (t0, t2), a1 = (t1, t3): other values.)
        using var scope = torch.NewDisposeScope();
        using var loss = Loss(classes: 2, anchors: 2, activation: DenseKdActivation.Softmax, objectWeight: 1, backgroundWeight: 1);
        var student = torch.tensor(new[] { (float)Ln3, 0f, 0f, 0f }).reshape(1, 4, 1, 1);
        var teacher = torch.tensor(new[] { 0f, 0f, (float)Ln3, 0f }).reshape(1, 4, 1, 1);
        var weights = torch.tensor(new float[] { 1, 0 }).reshape(1, 2, 1, 1);

        var result = loss.call([student], [teacher], [weights]);

        result.Object.ToDouble().Should().BeApproximately(0.5 * Math.Log(4.0 / 3), 1e-6);
        result.Background.ToDouble().Should().BeApproximately(0.75 * Ln3 - Ln2, 1e-6);
    }

    [Fact]
    public void Anchors_of_all_levels_are_pooled_not_averaged_per_level()
    {
        using var scope = torch.NewDisposeScope();
        using var loss = Loss(objectWeight: 1, backgroundWeight: 1);
        // Level 2: 1×2, both locations object, student = teacher (KL 0).
        var same = torch.tensor(new float[] { 0.3f, -1.2f }).reshape(1, 1, 1, 2);

        var result = loss.call([Student(), same], [Teacher(), same], [Mask(), torch.ones(1, 1, 2)]);

        // Pooled: (½ ln(4/3) + 0 + 0) / 3 object anchors; a per-level average would give (½ ln(4/3) / 1 + 0 / 2) / 2.
        result.Object.ToDouble().Should().BeApproximately(0.5 * Math.Log(4.0 / 3) / 3, 1e-6);
        result.Background.ToDouble().Should().BeApproximately(0.75 * Ln3 - Ln2, 1e-6);
    }

    [Fact]
    public void A_per_location_weight_counts_once_per_anchor_and_equals_the_expanded_per_anchor_weight()
    {
        using var scope = torch.NewDisposeScope();
        var (students, teachers, weights) = DenseKdInputs.Random(2, 3, 4, ScalarType.Float32, softWeights: true, new DenseLevelShape(3, 4));
        var perAnchor = weights[0].unsqueeze(1).expand(2, 3, 3, 4).contiguous();
        using var loss = Loss(classes: 4, anchors: 3);

        var perLocationResult = loss.call(students, teachers, weights);
        var perAnchorResult = loss.call(students, teachers, [perAnchor]);

        perLocationResult.Object.ToDouble().Should().BeApproximately(perAnchorResult.Object.ToDouble(), 1e-6);
        perLocationResult.Background.ToDouble().Should().BeApproximately(perAnchorResult.Background.ToDouble(), 1e-6);
    }

    [Fact]
    public void Soft_weights_are_normalised_by_their_sum_clamped_to_one()
    {
        using var scope = torch.NewDisposeScope();
        using var loss = Loss(objectWeight: 1, backgroundWeight: 1);

        // M = [0.25, 0]: object mass 0.25 < 1, so Object = 0.25·½ ln(4/3) / 1; background mass 0.75 + 1 = 1.75,
        // Background = (0.75·½ ln(4/3) + (¾ ln 3 − ln 2)) / 1.75.
        var tiny = loss.call([Student()], [Teacher()], [torch.tensor(new float[] { 0.25f, 0 }).reshape(1, 1, 2)]);
        tiny.Object.ToDouble().Should().BeApproximately(0.25 * 0.5 * Math.Log(4.0 / 3), 1e-6);
        tiny.Background.ToDouble().Should().BeApproximately((0.75 * 0.5 * Math.Log(4.0 / 3) + 0.75 * Ln3 - Ln2) / 1.75, 1e-6);

        // M = [0.5, 0.75]: object mass 1.25, background mass 0.75 < 1.
        var soft = loss.call([Student()], [Teacher()], [torch.tensor(new float[] { 0.5f, 0.75f }).reshape(1, 1, 2)]);
        soft.Object.ToDouble().Should().BeApproximately((0.5 * 0.5 * Math.Log(4.0 / 3) + 0.75 * (0.75 * Ln3 - Ln2)) / 1.25, 1e-6);
        soft.Background.ToDouble().Should().BeApproximately(0.5 * 0.5 * Math.Log(4.0 / 3) + 0.25 * (0.75 * Ln3 - Ln2), 1e-6);
    }

    [Theory]
    [InlineData(DenseKdActivation.Sigmoid, 0.0)]
    [InlineData(DenseKdActivation.Sigmoid, 1.0)]
    [InlineData(DenseKdActivation.Softmax, 0.0)]
    [InlineData(DenseKdActivation.Softmax, 1.0)]
    public void No_object_and_all_object_weights_give_a_zero_term_with_a_gradient_path(DenseKdActivation activation, double fill)
    {
        using var scope = torch.NewDisposeScope();
        var (students, teachers, _) = DenseKdInputs.Random(2, 2, 3, ScalarType.Float32, softWeights: false, new DenseLevelShape(3, 3), new DenseLevelShape(2, 2));
        foreach (var student in students)
        {
            student.requires_grad_();
        }

        Tensor[] weights = [torch.full(2, 3, 3, fill), torch.full(2, 2, 2, fill)];
        using var loss = Loss(classes: 3, anchors: 2, activation: activation, objectWeight: 1.5, backgroundWeight: 3);

        var result = loss.call(students, teachers, weights);
        result.Total.backward();

        var (expectedObject, expectedBackground) = NaiveDenseKdOracle.Loss(
            NaiveDenseKdOracle.Levels(students, teachers, weights, 2), activation, 1.5, 3, 1, 1);
        var (zero, nonZero, expected) = fill == 0
            ? (result.Object, result.Background, expectedBackground)
            : (result.Background, result.Object, expectedObject);
        zero.ToDouble().Should().Be(0);
        zero.requires_grad.Should().BeTrue();
        FeatureLossOracle.RelativeError(nonZero.ToDouble(), expected).Should().BeLessThanOrEqualTo(1e-5);
        students.Should().OnlyContain(student => student.grad!.isfinite().all().item<bool>());
    }

    [Theory]
    [InlineData(DenseKdActivation.Sigmoid, false, 1, 1.0, 1.0)]
    [InlineData(DenseKdActivation.Sigmoid, true, 3, 2.0, 0.5)]
    [InlineData(DenseKdActivation.Softmax, false, 1, 1.0, 1.0)]
    [InlineData(DenseKdActivation.Softmax, true, 3, 4.0, 1.5)]
    public void Random_levels_match_the_managed_reference(
        DenseKdActivation activation, bool softWeights, int anchors, double objectTemperature, double backgroundTemperature)
    {
        using var scope = torch.NewDisposeScope();
        var (students, teachers, weights) = DenseKdInputs.Random(
            2, anchors, 5, ScalarType.Float32, softWeights, new DenseLevelShape(6, 5), new DenseLevelShape(3, 3, PerAnchorWeights: true), new DenseLevelShape(2, 1));
        using var loss = Loss(classes: 5, anchors: anchors, activation: activation, objectWeight: 1.5, backgroundWeight: 0.75,
            objectTemperature: objectTemperature, backgroundTemperature: backgroundTemperature);

        var result = loss.call(students, teachers, weights);

        var (expectedObject, expectedBackground) = NaiveDenseKdOracle.Loss(
            NaiveDenseKdOracle.Levels(students, teachers, weights, anchors), activation, 1.5, 0.75, objectTemperature, backgroundTemperature);
        expectedObject.Should().BePositive();
        expectedBackground.Should().BePositive();
        FeatureLossOracle.RelativeError(result.Object.ToDouble(), expectedObject).Should().BeLessThanOrEqualTo(1e-5);
        FeatureLossOracle.RelativeError(result.Background.ToDouble(), expectedBackground).Should().BeLessThanOrEqualTo(1e-5);
        FeatureLossOracle.RelativeError(result.Total.ToDouble(), expectedObject + expectedBackground).Should().BeLessThanOrEqualTo(1e-5);
    }

    [Fact]
    public void Identical_student_and_teacher_give_zero()
    {
        using var scope = torch.NewDisposeScope();
        var (students, _, weights) = DenseKdInputs.Random(2, 2, 3, ScalarType.Float32, softWeights: true, new DenseLevelShape(4, 4));
        using var sigmoid = Loss(classes: 3, anchors: 2, objectTemperature: 3);
        using var softmax = Loss(classes: 3, anchors: 2, activation: DenseKdActivation.Softmax, backgroundTemperature: 0.25);

        sigmoid.call(students, students, weights).Total.ToDouble().Should().BeApproximately(0, 1e-6);
        softmax.call(students, students, weights).Total.ToDouble().Should().BeApproximately(0, 1e-6);
    }

    [Fact]
    public void Saturated_sigmoid_logits_stay_finite_where_probabilities_would_give_log_0()
    {
        // t = 100, s = −100 at T = 1: in float32 1 − σ(100) = 0 and σ(−100) ≈ 4e−44, so log((1 − q)/(1 − p)) from
        // probabilities would be log 0. From the log-sigmoids: log q − log p = 100, log(1 − q) − log(1 − p) = −100,
        // KL = 100·q − 100·(1 − q) = 100·tanh(50) = 100 (to float32 precision).
        using var scope = torch.NewDisposeScope();
        using var loss = Loss(objectWeight: 1, backgroundWeight: 1);
        var student = torch.full(1, 1, 1, 1, -100f).requires_grad_();

        var result = loss.call([student], [torch.full(1, 1, 1, 1, 100f)], [torch.ones(1, 1, 1)]);
        result.Total.backward();

        result.Object.ToDouble().Should().BeApproximately(100, 1e-4);
        student.grad!.isfinite().all().item<bool>().Should().BeTrue();
    }

    [Theory]
    [InlineData(DenseKdActivation.Sigmoid)]
    [InlineData(DenseKdActivation.Softmax)]
    public void Classes_both_networks_rule_out_give_0_not_NaN(DenseKdActivation activation)
    {
        // Class 1 has −∞ logits in both networks: q = p = 0 there (sigmoid: its "not class 1" outcome has q = p = 1,
        // KL 0), so the anchor's KL is that of classes 0 and 2 alone: two binary KLs, or the 2-class softmax KL.
        using var scope = torch.NewDisposeScope();
        var inf = float.PositiveInfinity;
        var student = torch.tensor(new[] { 0.5f, -inf, 2f }).reshape(1, 3, 1, 1).requires_grad_();
        var teacher = torch.tensor(new[] { -1f, -inf, 1f }).reshape(1, 3, 1, 1);
        using var loss = Loss(classes: 3, activation: activation, objectWeight: 1, backgroundWeight: 1);

        var result = loss.call([student], [teacher], [torch.ones(1, 1, 1)]);
        result.Total.backward();

        var expected = NaiveDenseKdOracle.AnchorKl([0.5, 2], [-1, 1], activation, 1);
        result.Object.ToDouble().Should().BeApproximately(expected, 1e-6);
        result.Background.ToDouble().Should().Be(0);
        student.grad!.isfinite().all().item<bool>().Should().BeTrue();
    }

    [Fact]
    public void Results_are_0_D_tensors_that_follow_the_device_and_a_non_contiguous_input_is_read_correctly()
    {
        using var scope = torch.NewDisposeScope();
        var (students, teachers, weights) = DenseKdInputs.Random(2, 2, 3, ScalarType.Float32, softWeights: true, new DenseLevelShape(4, 5));
        // The same values in a channels-last layout (not viewable as [B, A, K, H, W]).
        var channelsLast = students[0].permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
        channelsLast.is_contiguous().Should().BeFalse();
        using var loss = Loss(classes: 3, anchors: 2);

        var expected = loss.call(students, teachers, weights);
        var actual = loss.call([channelsLast], teachers, weights);

        foreach (var term in new[] { actual.Object, actual.Background, actual.Total })
        {
            term.dim().Should().Be(0);
            term.device_type.Should().Be(DeviceType.CPU);
        }

        actual.Total.ToDouble().Should().BeApproximately(expected.Total.ToDouble(), 1e-6);
    }

    [Fact]
    public void Default_options()
    {
        var options = new DecoupledDenseKdLossOptions { Classes = 80 };

        options.AnchorsPerLocation.Should().Be(1);
        options.Activation.Should().Be(DenseKdActivation.Sigmoid);
        options.ObjectWeight.Should().Be(2);
        options.BackgroundWeight.Should().Be(2);
        options.ObjectTemperature.Should().Be(1);
        options.BackgroundTemperature.Should().Be(1);
    }
}
