using DeFeat.Hooks.Terms;
using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.RoiHeads;
using DeFeat.Hooks.Schedules;
using DeFeat.Hooks.Tests.Toys;
using DeFeat.Testing;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.ScalarLifetime;

/// <summary>
/// The documented training loop on the two-stage toys, thousands of steps, while a second thread forces collections
/// during the distiller's call and the backward pass: no step may fail. The toy detectors and TorchSharp's optimiser
/// are not the library's code (they pass temporary <c>Scalar</c>s too), so the collections pause while they run.
/// </summary>
[Collection(GcStressCollection.Name)]
public sealed class DistillerGcStressTests(ITestOutputHelper output)
{
    [Fact]
    public void Distiller_never_fails_under_forced_collections()
    {
        using var setup = NewDisposeScope();
        var teacher = new TwoStageToy(4, 1);
        var student = new TwoStageToy(2, 2);
        using var distiller = DeFeatRecipe.Create(teacher, student, new DeFeatRecipeOptions
        {
            TeacherNeckPath = "neck",
            StudentNeckPath = "neck",
            StudentChannels = [4, 4],
            TeacherChannels = [8, 8],
            Schedule = new LinearWarmupSchedule(500, weight: 0.5),
            ProposalKd = new() { TeacherHeadPath = "roi_head", StudentHeadPath = "roi_head", Arguments = new RoiHeadArgumentPositions(1, 2) },
        });
        var optimizer = optim.SGD(student.parameters().Concat(distiller.parameters()), 0.001);
        var images = randn(2, 3, 8, 8);
        Tensor[] gtBoxes = [tensor(new float[,] { { 0, 0, 5, 6 } }), tensor(new float[,] { { 2, 2, 8, 8 }, { 1, 1, 2, 2 } })];

        // The README's advice for one's own loop: a Scalar kept alive across the call instead of the `+` operator.
        using var one = 1.ToScalar();
        using var stress = new GcStress();
        var nonFiniteSteps = 0;
        var result = stress.Run(_ =>
        {
            using var scope = NewDisposeScope();
            Tensor detectionLoss;
            using (stress.Paused())
            {
                distiller.Teacher.Run(() => teacher.call(images));
                detectionLoss = student.call(images);
                optimizer.zero_grad();
            }

            var kd = distiller.call(gtBoxes, new ImageSize(8, 8));
            detectionLoss.add(kd.Total, one).backward();
            using (stress.Paused())
            {
                optimizer.step();
                if (!detectionLoss.isfinite().item<bool>() || !kd.Total.isfinite().item<bool>())
                {
                    nonFiniteSteps++;
                }
            }
        });

        result.ShouldHaveNoFailures(output);
        nonFiniteSteps.Should().Be(0, "every step's detection and distillation losses must be finite");
        distiller.Step.Should().Be(result.Iterations);
    }
}
