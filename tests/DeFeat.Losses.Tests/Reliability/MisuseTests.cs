using DeFeat.Losses.Adaptation;
using DeFeat.Losses.Features;
using DeFeat.Losses.Masks;
using DeFeat.Losses.Proposals;
using TorchSharp;
using static DeFeat.Losses.Tests.Masks.MaskTestData;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Reliability;

/// <summary>Inputs that used to be silently wrong or to fail with an error that did not say what to fix.</summary>
public sealed class MisuseTests : IDisposable
{
    private readonly DisposeScope scope = torch.NewDisposeScope();

    public void Dispose() => scope.Dispose();

    [Fact]
    public void A_disposed_loss_says_it_was_disposed_and_what_to_do()
    {
        var featureLoss = new DecoupledFeatureLoss();
        var proposalLoss = new DecoupledProposalKdLoss();
        featureLoss.Dispose();
        proposalLoss.Dispose();

        var neck = () => featureLoss.call([torch.zeros(1, 2, 3, 3)], [torch.zeros(1, 2, 3, 3)], [torch.zeros(1, 3, 3)]);
        var proposals = () => proposalLoss.call(torch.zeros(2, 3), torch.zeros(2, 3), torch.tensor(new long[] { 0, 2 }));

        neck.Should().Throw<ObjectDisposedException>().WithMessage("*DecoupledFeatureLoss was disposed*create a new one*");
        proposals.Should().Throw<ObjectDisposedException>().WithMessage("*DecoupledProposalKdLoss was disposed*create a new one*");
    }

    [Fact]
    public void A_disposed_input_tensor_is_named_instead_of_an_empty_handle()
    {
        using var loss = new DecoupledFeatureLoss();
        var disposed = torch.zeros(1, 2, 3, 3);
        disposed.Dispose();
        Tensor box;
        using (torch.NewDisposeScope())
        {
            box = torch.tensor(new float[,] { { 0, 0, 4, 4 } });
        }

        var neck = () => loss.call([disposed], [torch.zeros(1, 2, 3, 3)], [torch.zeros(1, 3, 3)]);
        var masks = () => new DeFeatMaskBuilder().Build([box], [new FeatureMapSize(3, 3)], [4.0]);

        neck.Should().Throw<ObjectDisposedException>().WithMessage("studentFeatures[0] is a disposed tensor*dispose scope*");
        masks.Should().Throw<ObjectDisposedException>().WithMessage("gtBoxes[0] is a disposed tensor*");
    }

    [Fact]
    public void An_adapter_index_outside_the_levels_names_the_level_count()
    {
        using var adapters = new FeatureAdapters([2, 2], [4, 4]);

        var read = () => adapters[5];

        read.Should().Throw<ArgumentOutOfRangeException>().WithMessage("level must lie in [0, 2) (these adapters have 2 levels); got 5*");
    }

    [Fact]
    public void The_loss_dtype_follows_the_adapters_as_documented()
    {
        // float64 student features through float32 adapters: compared in the adapters' dtype, so float32;
        // with float64 adapters the comparison (and the loss) is float64.
        using var float32Adapters = new DecoupledFeatureLoss(adapters: new FeatureAdapters([2], [2]));
        using var float64Adapters = new DecoupledFeatureLoss(adapters: new FeatureAdapters([2], [2]));
        float64Adapters.to(ScalarType.Float64);
        Tensor[] student = [torch.randn(1, 2, 3, 3, ScalarType.Float64)], teacher = [torch.randn(1, 2, 3, 3)], masks = [torch.ones(1, 3, 3)];

        float32Adapters.call(student, teacher, masks).Total.dtype.Should().Be(ScalarType.Float32);
        float64Adapters.call(student, teacher, masks).Total.dtype.Should().Be(ScalarType.Float64);
    }

    [Theory]
    [InlineData(1e-300)]
    [InlineData(1e-7)]
    [InlineData(1e7)]
    [InlineData(double.PositiveInfinity)]
    public void Temperatures_outside_the_float32_safe_range_are_rejected(double temperature)
    {
        ShouldRejectOption(() => new DecoupledProposalKdLossOptions { ObjectTemperature = temperature }, "ObjectTemperature", "[1E-06, 1000000]", temperature);
        ShouldRejectOption(() => new DecoupledProposalKdLossOptions { BackgroundTemperature = temperature }, "BackgroundTemperature", "[1E-06, 1000000]", temperature);
    }

    [Fact]
    public void The_extreme_accepted_temperatures_give_finite_losses()
    {
        var student = torch.tensor(new float[,] { { 3, -2, 1 }, { -1, 4, 0 } });
        var teacher = torch.tensor(new float[,] { { 2, 1, -3 }, { 0, 5, 1 } });
        var labels = torch.tensor(new long[] { 0, 2 });
        foreach (var temperature in new[] { 1e-6, 1e6 })
        {
            using var loss = new DecoupledProposalKdLoss(new DecoupledProposalKdLossOptions { ObjectTemperature = temperature, BackgroundTemperature = temperature });

            loss.call(student, teacher, labels).Total.isfinite().item<bool>().Should().BeTrue($"T = {temperature}");
        }
    }

    [Fact]
    public void A_huge_box_still_marks_the_cells_whose_anchors_overlap_it_most()
    {
        // One 4×4 level, stride 8, one 64×64 anchor per cell centred on (8j, 8i). Box (0, 0, 1e30, 1e30): the overlap
        // along an axis is 32, 40, 48, 56 px for cells 0..3, and every IoU is overlap_x·overlap_y / ~1e60 (float64 keeps
        // it). Best = 56·56; marked where overlap_x·overlap_y > 0.5·3136 = 1568: all but (0,0), (0,1), (1,0), (0,2), (2,0).
        var builder = new AnchorIouMaskBuilder(new AnchorIouMaskOptions { Scales = [8], Ratios = [1] });

        var mask = builder.Build([Boxes([0, 0, 1e30, 1e30])], [new FeatureMapSize(4, 4)], [8.0])[0];

        Grid(mask, 0).Should().BeEquivalentTo(new[,] { { 0, 0, 0, 1 }, { 0, 1, 1, 1 }, { 0, 1, 1, 1 }, { 1, 1, 1, 1 } });
    }

    [Fact]
    public void A_nan_box_with_checks_off_leaves_the_other_boxes_of_its_image_intact()
    {
        var builder = new GaussianMaskBuilder { ValidateBoxValues = false, SigmaFactor = 0.5 };
        FeatureMapSize[] size = [new(6, 8)];

        var alone = builder.Build([Boxes([8, 8, 40, 32])], size, [8.0])[0];
        var withNan = builder.Build([Boxes([8, 8, 40, 32], [double.NaN, 0, 16, 16])], size, [8.0])[0];

        withNan.isnan().any().item<bool>().Should().BeFalse();
        withNan.allclose(alone, rtol: 0, atol: 0).Should().BeTrue("the NaN box marks nothing and wipes nothing");
        alone.max().item<float>().Should().BeGreaterThan(0.9f, "the valid box's own Gaussian is there (≈ 0.95 at its centre cells)");
    }
}
