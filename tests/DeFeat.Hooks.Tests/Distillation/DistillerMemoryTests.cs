using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.Proposals;
using DeFeat.Hooks.Recording;
using DeFeat.Hooks.Tests.Toys;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Distillation;

public class DistillerMemoryTests
{
    private const int Steps = 1000;

    [Theory]
    [InlineData(true, TapMode.Hook)]
    [InlineData(true, TapMode.Wrapper)]
    [InlineData(false, TapMode.Hook)]
    public void A_thousand_documented_training_steps_keep_the_live_tensor_count_flat(bool twoStage, TapMode mode)
    {
        using var setup = torch.NewDisposeScope();
        var style = mode == TapMode.Wrapper ? CallStyle.Forward : CallStyle.Call;
        nn.Module<Tensor, Tensor> teacher = twoStage ? new TwoStageToy(4, 1, style) : new OneStageToy(4, style);
        nn.Module<Tensor, Tensor> student = twoStage ? new TwoStageToy(2, 2, style) : new OneStageToy(2, style);
        using var distiller = new DeFeatDistiller(teacher, student, new DeFeatDistillerOptions
        {
            TeacherNeckPath = "neck",
            StudentNeckPath = "neck",
            TeacherTapMode = mode,
            StudentTapMode = mode,
            StudentChannels = [4, 4],
            TeacherChannels = [8, 8],
            RoiHeads = twoStage
                ? new() { TeacherHeadPath = "roi_head", StudentHeadPath = "roi_head", Adapter = new RoiHeadArgumentAdapter(1, 2) }
                : null,
        });
        var optimizer = torch.optim.SGD(student.parameters().Concat(distiller.parameters()), 0.001);
        var images = torch.randn(2, 3, 8, 8);
        Tensor[] gtBoxes = [torch.tensor(new float[,] { { 0, 0, 5, 6 } }), torch.tensor(new float[,] { { 2, 2, 8, 8 } })];

        void Step()
        {
            // The documented loop body.
            using var scope = torch.NewDisposeScope();
            distiller.Teacher.Run(() => teacher.call(images));
            var detectionLoss = student.call(images);
            var kd = distiller.call(gtBoxes, new ImageSize(8, 8));
            optimizer.zero_grad();
            (detectionLoss + kd.Total).backward();
            optimizer.step();
        }

        for (var step = 0; step < 10; step++)
        {
            Step();
        }

        var afterWarmUp = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (var step = 10; step < Steps; step++)
        {
            Step();
        }

        (DisposeScopeManager.Statistics.ThreadTotalLiveCount - afterWarmUp).Should().Be(0);
        distiller.Step.Should().Be(Steps);
    }
}
