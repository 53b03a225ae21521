using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.Proposals;
using DeFeat.Hooks.Tests.Toys;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests;

public class SmokeDistiller
{
    [Fact]
    public void Two_stage_step_runs()
    {
        using var scope = torch.NewDisposeScope();
        var teacher = new TwoStageToy(8, 1);
        var student = new TwoStageToy(4, 2);
        using var distiller = new DeFeatDistiller(teacher, student, new DeFeatDistillerOptions
        {
            TeacherNeckPath = "neck",
            StudentNeckPath = "neck",
            StudentChannels = [8, 8],
            TeacherChannels = [16, 16],
            RoiHeads = new() { TeacherHeadPath = "roi_head", StudentHeadPath = "roi_head", Adapter = new RoiHeadArgumentAdapter(1, 2) },
        });
        var images = torch.randn(2, 3, 16, 16);
        distiller.Teacher.Run(() => teacher.call(images));
        var loss = student.call(images);
        var kd = distiller.call([torch.tensor(new float[,] { { 0, 0, 8, 8 } }), torch.zeros(0, 4)], new ImageSize(16, 16));
        (loss + kd.Total).backward();
        kd.ToDictionary().Should().HaveCount(5);
        distiller.parameters().Should().HaveCount(4);
    }
}
