using DeFeat.Losses.Adaptation;
using DeFeat.Losses.Features;
using DeFeat.Losses.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Features;

public class DecoupledFeatureLossValueTests
{
    private static readonly DecoupledFeatureLossOptions UnitWeights = new() { ObjectWeight = 1, BackgroundWeight = 1 };

    // Level 1: B = 1, C = 1, 2×2. S = [[1, 2], [3, 4]], T = 0 → d = (S − T)² = [[1, 4], [9, 16]]; M = [[1, 0], [0, 0]].
    private static Tensor Student1() => torch.tensor(new float[] { 1, 2, 3, 4 }).reshape(1, 1, 2, 2);

    private static Tensor Teacher1() => torch.zeros(1, 1, 2, 2);

    private static Tensor Mask1() => torch.tensor(new float[] { 1, 0, 0, 0 }).reshape(1, 2, 2);

    // Level 2: B = 1, C = 1, 1×2. S = [[2, −1]], T = [[1, 1]] → d = [[1, 4]]; M = 0 (no object on this level).
    private static Tensor Student2() => torch.tensor(new float[] { 2, -1 }).reshape(1, 1, 1, 2);

    private static Tensor Teacher2() => torch.ones(1, 1, 1, 2);

    private static Tensor Mask2() => torch.zeros(1, 1, 2);

    [Fact]
    public void One_level_matches_the_hand_computed_value()
    {
        using var scope = torch.NewDisposeScope();
        using var loss = new DecoupledFeatureLoss();

        var result = loss.call([Student1()], [Teacher1()], [Mask1()]);

        // L_obj = 1 / max(1, 2·1·1) = 1/2;  L_bg = (4 + 9 + 16) / max(1, 2·1·3) = 29/6.
        // Defaults λ_obj = 4, λ_bg = 16: Object = 2, Background = 16·29/6 = 232/3, Total = 238/3.
        result.Object.ToDouble().Should().BeApproximately(2.0, 1e-6);
        result.Background.ToDouble().Should().BeApproximately(232.0 / 3, 1e-4);
        result.Total.ToDouble().Should().BeApproximately(238.0 / 3, 1e-4);
        result.Total.shape.Should().BeEmpty();
        result.Total.dtype.Should().Be(ScalarType.Float32);
    }

    [Fact]
    public void Two_levels_average_over_levels_including_the_level_without_objects()
    {
        using var scope = torch.NewDisposeScope();
        using var loss = new DecoupledFeatureLoss();

        var result = loss.call([Student1(), Student2()], [Teacher1(), Teacher2()], [Mask1(), Mask2()]);

        // Level 1: obj 1/2, bg 29/6. Level 2: obj 0 / max(1, 0) = 0, bg (1 + 4) / max(1, 2·1·2) = 5/4.
        // L_obj = (1/2 + 0) / 2 = 1/4 (divided by L = 2 although level 2 has no object);
        // L_bg = (29/6 + 5/4) / 2 = 73/24. Object = 4·1/4 = 1, Background = 16·73/24 = 146/3, Total = 149/3.
        result.Object.ToDouble().Should().BeApproximately(1.0, 1e-6);
        result.Background.ToDouble().Should().BeApproximately(146.0 / 3, 1e-4);
        result.Total.ToDouble().Should().BeApproximately(149.0 / 3, 1e-4);
    }

    [Fact]
    public void Voc_weights_scale_the_terms()
    {
        using var scope = torch.NewDisposeScope();
        using var loss = new DecoupledFeatureLoss(DecoupledFeatureLossOptions.Voc);

        var result = loss.call([Student1()], [Teacher1()], [Mask1()]);

        // λ_obj = 3, λ_bg = 12: Object = 3/2, Background = 12·29/6 = 58.
        result.Object.ToDouble().Should().BeApproximately(1.5, 1e-6);
        result.Background.ToDouble().Should().BeApproximately(58.0, 1e-4);
        result.Total.ToDouble().Should().BeApproximately(59.5, 1e-4);
    }

    [Fact]
    public void Soft_mask_weights_pixels_and_the_normaliser_is_clamped_to_one()
    {
        using var scope = torch.NewDisposeScope();
        using var loss = new DecoupledFeatureLoss(UnitWeights);
        var softMask = torch.tensor(new float[] { 0.25f, 0, 0, 0.5f }).reshape(1, 2, 2);

        var result = loss.call([Student1()], [Teacher1()], [softMask]);

        // d = [1, 4, 9, 16]. Object: (0.25·1 + 0.5·16) / max(1, 2·1·0.75) = 8.25 / 1.5 = 5.5.
        // Background: (0.75·1 + 4 + 9 + 0.5·16) / max(1, 2·1·(0.75 + 1 + 1 + 0.5)) = 21.75 / 6.5.
        result.Object.ToDouble().Should().BeApproximately(5.5, 1e-5);
        result.Background.ToDouble().Should().BeApproximately(21.75 / 6.5, 1e-5);

        var tinyMask = torch.tensor(new float[] { 0.25f, 0, 0, 0 }).reshape(1, 2, 2);
        // Object mass 2·1·0.25 = 0.5 < 1, so the normaliser is 1: Object = 0.25·1 / 1.
        loss.call([Student1()], [Teacher1()], [tinyMask]).Object.ToDouble().Should().BeApproximately(0.25, 1e-6);
    }

    [Fact]
    public void Empty_masks_give_a_zero_object_term_without_nan_and_keep_gradients()
    {
        using var scope = torch.NewDisposeScope();
        using var loss = new DecoupledFeatureLoss(UnitWeights);
        var student = Student1().requires_grad_();

        var result = loss.call([student], [Teacher1()], [torch.zeros(1, 2, 2)]);
        result.Total.backward();

        // No object anywhere: Object = 0 / max(1, 0) = 0; Background = (1 + 4 + 9 + 16) / max(1, 2·1·4) = 30/8.
        result.Object.ToDouble().Should().Be(0.0);
        result.Object.requires_grad.Should().BeTrue();
        result.Background.ToDouble().Should().BeApproximately(3.75, 1e-6);
        // ∂/∂S = 2·(S − T)/8 = [0.25, 0.5, 0.75, 1].
        FeatureLossOracle.Values(student.grad!).Should().Equal(0.25, 0.5, 0.75, 1.0);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Random_levels_match_the_managed_reference(bool softMasks)
    {
        using var scope = torch.NewDisposeScope();
        var (students, teachers, masks) = FeatureLossInputs.Random(
            2, ScalarType.Float32, softMasks, new(4, 4, 6, 5), new(3, 3, 4, 3), new(2, 2, 2, 2));
        using var loss = new DecoupledFeatureLoss(new DecoupledFeatureLossOptions { ObjectWeight = 3, BackgroundWeight = 7 });

        var result = loss.call(students, teachers, masks);

        var (expectedObject, expectedBackground) = FeatureLossOracle.Loss(
            FeatureLossOracle.Levels(students, teachers, masks), 3, 7);
        FeatureLossOracle.RelativeError(result.Object.ToDouble(), expectedObject).Should().BeLessThanOrEqualTo(1e-5);
        FeatureLossOracle.RelativeError(result.Background.ToDouble(), expectedBackground).Should().BeLessThanOrEqualTo(1e-5);
        FeatureLossOracle.RelativeError(result.Total.ToDouble(), expectedObject + expectedBackground).Should().BeLessThanOrEqualTo(1e-5);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Random_levels_with_adapters_match_the_managed_reference(bool softMasks)
    {
        using var scope = torch.NewDisposeScope();
        var (students, teachers, masks) = FeatureLossInputs.Random(
            2, ScalarType.Float32, softMasks, new(3, 5, 6, 5), new(4, 2, 4, 3), new(2, 3, 3, 2));
        using var adapters = new FeatureAdapters([3, 4, 2], [5, 2, 3]);
        using (torch.no_grad())
        {
            // Weights of order 1 so the adapter visibly changes the result (the official init is ~1e-4).
            foreach (var parameter in adapters.parameters())
            {
                parameter.normal_(0.0, 0.5);
            }
        }

        using var loss = new DecoupledFeatureLoss(adapters: adapters);

        var result = loss.call(students, teachers, masks);

        var (expectedObject, expectedBackground) = FeatureLossOracle.Loss(
            FeatureLossOracle.Levels(students, teachers, masks, adapters), 4, 16);
        FeatureLossOracle.RelativeError(result.Object.ToDouble(), expectedObject).Should().BeLessThanOrEqualTo(1e-5);
        FeatureLossOracle.RelativeError(result.Background.ToDouble(), expectedBackground).Should().BeLessThanOrEqualTo(1e-5);
        FeatureLossOracle.RelativeError(result.Total.ToDouble(), expectedObject + expectedBackground).Should().BeLessThanOrEqualTo(1e-5);
    }

    [Fact]
    public void Float64_inputs_are_computed_and_returned_in_float64()
    {
        using var scope = torch.NewDisposeScope();
        var (students, teachers, masks) = FeatureLossInputs.Random(2, ScalarType.Float64, true, new(3, 3, 4, 4), new(2, 2, 2, 3));
        using var loss = new DecoupledFeatureLoss();

        var result = loss.call(students, teachers, masks);

        result.Object.dtype.Should().Be(ScalarType.Float64);
        result.Background.dtype.Should().Be(ScalarType.Float64);
        result.Total.dtype.Should().Be(ScalarType.Float64);
        var (expectedObject, expectedBackground) = FeatureLossOracle.Loss(FeatureLossOracle.Levels(students, teachers, masks), 4, 16);
        FeatureLossOracle.RelativeError(result.Object.ToDouble(), expectedObject).Should().BeLessThanOrEqualTo(1e-12);
        FeatureLossOracle.RelativeError(result.Background.ToDouble(), expectedBackground).Should().BeLessThanOrEqualTo(1e-12);
    }

    [Fact]
    public void The_adapters_are_parameters_of_the_loss()
    {
        using var adapters = new FeatureAdapters([3, 4], [5, 6]);
        using var loss = new DecoupledFeatureLoss(adapters: adapters);

        var names = loss.named_parameters().Select(p => p.name).ToArray();

        names.Should().Equal(
            "adapters.levels.0.conv.weight",
            "adapters.levels.0.conv.bias",
            "adapters.levels.1.conv.weight",
            "adapters.levels.1.conv.bias");
        loss.parameters().Select(p => p.shape).Should().BeEquivalentTo(
            new[] { new long[] { 5, 3, 3, 3 }, [5], [6, 4, 3, 3], [6] }, o => o.WithStrictOrdering());
        new DecoupledFeatureLoss().parameters().Should().BeEmpty();
    }
}
