using System.Runtime.CompilerServices;
using DeFeat.Losses.Adaptation;
using DeFeat.Losses.Dense;
using DeFeat.Losses.Features;
using DeFeat.Losses.Masks;
using DeFeat.Losses.Proposals;
using DeFeat.Losses.Tests.Masks;
using DeFeat.Losses.Tests.Support;
using DeFeat.Testing;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.ScalarLifetime;

/// <summary>
/// The entry points, thousands of times on small inputs while a second thread forces collections: no call may
/// fail and every result must equal the one computed without the collections. Before the library kept its
/// <c>Scalar</c>s alive across the native calls, a few calls in every thousand failed (TorchSharp #1434, #1496).
/// </summary>
[Collection(GcStressCollection.Name)]
public sealed class GcStressTests(ITestOutputHelper output)
{
    [Fact]
    public void Mask_builders_never_fail_under_forced_collections()
    {
        using var inputs = NewDisposeScope();
        Tensor[] boxes =
        [
            MaskTestData.Boxes([1, 2, 20, 30], [40, 8, 60, 60], [-3, 50, 9, 70]),
            MaskTestData.Boxes([0, 0, 63, 63], [5, 5, 5.5, 9]),
        ];
        FeatureMapSize[] sizes = [new(16, 16), new(8, 8), new(4, 4)];
        double[] strides = [4, 8, 16];
        ObjectMaskBuilder[] builders =
        [
            new DeFeatMaskBuilder { CanonicalSize = 16 },
            new AllLevelsMaskBuilder(),
            new AnchorIouMaskBuilder(AnchorIouMaskOptions.RetinaNet),
            new GaussianMaskBuilder { CanonicalSize = 16 },
        ];
        var expected = builders.Select(builder => builder.Build(boxes, sizes, strides)).ToArray();

        using var stress = new GcStress();
        var result = stress.Run(iteration =>
        {
            using var scope = NewDisposeScope();
            var builder = iteration % builders.Length;
            var masks = builders[builder].Build(boxes, sizes, strides);
            Same(masks, expected[builder], builders[builder].GetType().Name);
        });

        result.ShouldHaveNoFailures(output);
    }

    [Fact]
    public void Feature_loss_with_adapters_never_fails_under_forced_collections()
    {
        using var inputs = NewDisposeScope();
        var (students, teachers, masks) = FeatureLossInputs.Random(2, ScalarType.Float32, softMasks: true, new(3, 4, 6, 6), new(2, 4, 3, 3));
        foreach (var student in students)
        {
            student.requires_grad_();
        }

        using var adapters = new FeatureAdapters([3, 2], [4, 4]);
        using var loss = new DecoupledFeatureLoss(new DecoupledFeatureLossOptions { ObjectWeight = 3, BackgroundWeight = 12 }, adapters);
        StressLoss(() => Terms(loss.call(students, teachers, masks)));
    }

    [Fact]
    public void Proposal_kd_loss_never_fails_under_forced_collections()
    {
        using var inputs = NewDisposeScope();
        var studentLogits = randn(12, 4).requires_grad_();
        var teacherLogits = randn(12, 4);
        var labels = tensor(new long[] { 0, 1, 2, 3, 3, -1, 0, 3, 1, 2, 3, 3 });
        using var loss = new DecoupledProposalKdLoss(new DecoupledProposalKdLossOptions
        {
            ObjectWeight = 2, BackgroundWeight = 1.5, ObjectTemperature = 2, BackgroundTemperature = 3,
        });
        StressLoss(() => Terms(loss.call(studentLogits, teacherLogits, labels)));
    }

    [Theory]
    [InlineData(DenseKdActivation.Sigmoid)]
    [InlineData(DenseKdActivation.Softmax)]
    public void Dense_kd_loss_never_fails_under_forced_collections(DenseKdActivation activation)
    {
        using var inputs = NewDisposeScope();
        Tensor[] students = [randn(2, 6, 4, 4).requires_grad_(), randn(2, 6, 2, 2).requires_grad_()];
        Tensor[] teachers = [randn(2, 6, 4, 4), randn(2, 6, 2, 2)];
        Tensor[] weights = [rand(2, 4, 4), rand(2, 2, 2, 2)];
        using var loss = new DecoupledDenseKdLoss(new DecoupledDenseKdLossOptions
        {
            Classes = 3, AnchorsPerLocation = 2, Activation = activation, ObjectTemperature = 2, BackgroundTemperature = 0.5,
        });
        StressLoss(() => Terms(loss.call(students, teachers, weights)), $"{nameof(Dense_kd_loss_never_fails_under_forced_collections)}({activation})");
    }

    [Fact]
    public void Pkd_loss_never_fails_under_forced_collections()
    {
        using var inputs = NewDisposeScope();
        Tensor[] students = [randn(2, 3, 6, 6).requires_grad_(), randn(2, 3, 2, 2).requires_grad_()];
        Tensor[] teachers = [randn(2, 3, 3, 3), randn(2, 3, 2, 2)];
        using var loss = new PkdLoss(new PkdLossOptions { LossWeight = 2 });
        StressLoss(() => [loss.call(students, teachers)]);
    }

    private static Tensor[] Terms(DecoupledLoss loss) => [loss.Object, loss.Background, loss.Total];

    /// <summary>
    /// Forward and backward (of the last result) of a loss under the collections; every result must equal the
    /// unstressed one.
    /// </summary>
    private void StressLoss(Func<Tensor[]> forward, [CallerMemberName] string test = "")
    {
        var expected = forward();
        using var stress = new GcStress();
        var result = stress.Run(_ =>
        {
            using var scope = NewDisposeScope();
            var actual = forward();
            actual[^1].backward();
            Same(actual, expected, test);
        });

        result.ShouldHaveNoFailures(output, test);
    }

    /// <summary>Exact equality (same inputs, same CPU kernels); a freed Scalar read back as garbage changes a value.</summary>
    private static void Same(IReadOnlyList<Tensor> actual, IReadOnlyList<Tensor> expected, string what)
    {
        for (var index = 0; index < expected.Count; index++)
        {
            if (!actual[index].allclose(expected[index], rtol: 0, atol: 0))
            {
                throw new InvalidOperationException($"{what}: result {index} differs from the unstressed one.");
            }
        }
    }
}
