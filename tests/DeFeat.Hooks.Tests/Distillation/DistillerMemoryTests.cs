using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.Interception;
using DeFeat.Hooks.RoiHeads;
using DeFeat.Hooks.Terms;
using DeFeat.Hooks.Tests.Toys;
using DeFeat.Losses.Adaptation;
using DeFeat.Losses.Dense;
using DeFeat.Losses.Masks;
using DeFeat.Tests.Shared;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Distillation;

public class DistillerMemoryTests
{
    private const int Steps = 1000;

    /// <summary>The distillers under test: the DeFeat preset, or the COCO / one-stage recipes built from terms.</summary>
    public enum Recipe
    {
        Preset,
        Coco,
        OneStage,
    }

    [Theory]
    [InlineData(true, TapMode.Hook, Recipe.Preset)]
    [InlineData(true, TapMode.Wrapper, Recipe.Preset)]
    [InlineData(false, TapMode.Hook, Recipe.Preset)]
    [InlineData(true, TapMode.Hook, Recipe.Coco)]
    [InlineData(false, TapMode.Hook, Recipe.OneStage)]
    public void A_thousand_documented_training_steps_keep_the_live_tensor_count_flat(bool twoStage, TapMode mode, Recipe recipe)
    {
        using var setup = torch.NewDisposeScope();
        var style = mode == TapMode.Wrapper ? CallStyle.Forward : CallStyle.Call;
        nn.Module<Tensor, Tensor> teacher = twoStage ? new TwoStageToy(4, 1, style) : new OneStageToy(4, style);
        nn.Module<Tensor, Tensor> student = twoStage ? new TwoStageToy(2, 2, style) : new OneStageToy(2, style);
        var roiHeads = new ProposalKdTermOptions { TeacherHeadPath = "roi_head", StudentHeadPath = "roi_head", Arguments = new RoiHeadArgumentPositions(1, 2) };
        var neck = () => new FeatureTerm(new() { Name = "neck", TeacherPath = "neck", StudentPath = "neck", Loss = new DecoupledFeatureTermLoss(), StudentChannels = [4, 4], TeacherChannels = [8, 8] });
        var settings = new DistillerOptions { TeacherTapMode = mode, StudentTapMode = mode };
        using var distiller = recipe switch
        {
            Recipe.Coco => new Distiller(teacher, student,
            [
                new FeatureTerm(new()
                {
                    Name = "backbone", TeacherPath = "backbone", StudentPath = "backbone", Loss = new DecoupledFeatureTermLoss(),
                    MaskBuilder = new BackboneMaskBuilder { GridStride = 2 }, StudentChannels = [2, 4], TeacherChannels = [4, 8],
                }),
                neck(),
                new ProposalKdTerm(roiHeads),
            ], settings),
            Recipe.OneStage => new Distiller(teacher, student,
            [
                neck(),
                new DenseHeadKdTerm(new()
                {
                    TeacherHeadPath = "cls_head", StudentHeadPath = "cls_head", RecordEveryCall = true, MaskBuilder = new AllLevelsMaskBuilder(),
                    Loss = new DecoupledDenseKdLossOptions { Classes = 3 },
                }),
            ], settings),
            _ => Preset(),
        };

        Distiller Preset() => DeFeatRecipe.Create(teacher, student, new DeFeatRecipeOptions
        {
            TeacherNeckPath = "neck",
            StudentNeckPath = "neck",
            StudentChannels = [4, 4],
            TeacherChannels = [8, 8],
            ProposalKd = twoStage ? roiHeads : null,
        }, settings);
        var optimizer = torch.optim.SGD(student.parameters().Concat(distiller.parameters()), 0.001);
        var images = torch.randn(2, 3, 8, 8);
        Tensor[] gtBoxes = [torch.tensor(new float[,] { { 0, 0, 5, 6 } }), torch.tensor(new float[,] { { 2, 2, 8, 8 } })];

        var trained = student.named_parameters().Select(item => ($"student.{item.name}", item.parameter))
            .Concat(distiller.named_parameters().Select(item => ($"distiller.{item.name}", item.parameter)))
            .ToList();
        var step = 0;

        void Step()
        {
            // The documented loop body, with every loss and gradient checked.
            using var scope = torch.NewDisposeScope();
            distiller.Teacher.Run(() => teacher.call(images));
            var detectionLoss = student.call(images);
            var kd = distiller.call(gtBoxes, new ImageSize(8, 8));
            optimizer.zero_grad();
            (detectionLoss + kd.Total).backward();
            TrainingChecks.LossesShouldBeFinite($"at step {step}", [("detection", detectionLoss), .. kd.ToDictionary().Select(term => (term.Key, term.Value))]);
            TrainingChecks.GradientsShouldBeFinite($"at step {step}", trained);
            optimizer.step();
            step++;
        }

        while (step < 10)
        {
            Step();
        }

        var afterWarmUp = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        while (step < Steps)
        {
            Step();
        }

        TrainingChecks.ValuesShouldBeFinite("after training", trained);

        (DisposeScopeManager.Statistics.ThreadTotalLiveCount - afterWarmUp).Should().Be(0);
        distiller.Step.Should().Be(Steps);
    }
}
