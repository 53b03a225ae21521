using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.RoiHeads;
using DeFeat.Hooks.Schedules;
using DeFeat.Hooks.Terms;
using DeFeat.Hooks.Tests.Support;
using DeFeat.Hooks.Tests.Toys;
using DeFeat.Losses.Adaptation;
using DeFeat.Losses.Features;
using TorchSharp;
using static DeFeat.Hooks.Tests.Support.NaiveTerms;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Terms;

/// <summary>The distiller's step in its state, suspension for mid-training evaluation, and the terms' argument checks.</summary>
public class DistillerStateTests
{
    private static readonly ImageSize Size = new(16, 16);

    private static Tensor[] GtBoxes() => [torch.tensor(new float[,] { { 1, 2, 9, 11 } }), torch.zeros(0, 4)];

    private static DeFeatRecipeOptions Options() => new()
    {
        TeacherNeckPath = "neck",
        StudentNeckPath = "neck",
        StudentChannels = [8, 8],
        TeacherChannels = [16, 16],
        Schedule = new LinearDecaySchedule(10),
        ProposalKd = new() { TeacherHeadPath = "roi_head", StudentHeadPath = "roi_head", Arguments = new RoiHeadArgumentPositions(1, 2) },
    };

    private static void Step(Distiller distiller, TwoStageToy teacher, TwoStageToy student, Tensor images)
    {
        distiller.Teacher.Run(() => teacher.call(images));
        student.call(images);
        distiller.call(GtBoxes(), Size);
    }

    [Fact]
    public void Save_and_load_restore_the_step_with_the_adaptation_layers()
    {
        using var scope = torch.NewDisposeScope();
        var path = Path.Combine(Path.GetTempPath(), $"distiller-{Guid.NewGuid():N}.bin");
        var images = torch.randn(2, 3, 16, 16);
        using (var teacher = new TwoStageToy(8, seed: 1))
        using (var student = new TwoStageToy(4, seed: 2))
        using (var distiller = DeFeatRecipe.Create(teacher, student, Options()))
        {
            Step(distiller, teacher, student, images);
            Step(distiller, teacher, student, images);
            distiller.Step.Should().Be(2);
            distiller.state_dict()["step"].item<long>().Should().Be(2);
            distiller.save(path);
        }

        using var teacher2 = new TwoStageToy(8, seed: 1);
        using var student2 = new TwoStageToy(4, seed: 2);
        using var restored = DeFeatRecipe.Create(teacher2, student2, Options());
        restored.Step.Should().Be(0);
        restored.load(path);
        File.Delete(path);
        restored.Step.Should().Be(2);
        distillerWeight(restored).Should().BeApproximately(0.8, 1e-12, "linear decay 1 − 2/10 at the restored step");
        restored.Step.Should().Be(3);

        double distillerWeight(Distiller distiller)
        {
            distiller.Teacher.Run(() => teacher2.call(images));
            student2.call(images);
            return distiller.call(GtBoxes(), Size).Weights["neck"];
        }
    }

    [Fact]
    public void A_suspended_distiller_lets_the_student_run_alone_and_resumes_afterwards()
    {
        using var scope = torch.NewDisposeScope();
        using var teacher = new TwoStageToy(8, seed: 1);
        using var student = new TwoStageToy(4, seed: 2);
        using var distiller = DeFeatRecipe.Create(teacher, student, Options());
        var images = torch.randn(2, 3, 16, 16);

        var alone = () => student.call(images);
        alone.Should().Throw<InvalidOperationException>("the student's RoI head waits for the teacher's proposals");
        using (distiller.Suspend())
        {
            alone.Should().NotThrow("the relay substitutes nothing while suspended");
        }

        Step(distiller, teacher, student, images);
        distiller.Step.Should().Be(1);
    }

    [Fact]
    public void Nested_suspensions_resume_only_when_the_outermost_is_disposed()
    {
        using var scope = torch.NewDisposeScope();
        using var teacher = new TwoStageToy(8, seed: 1);
        using var student = new TwoStageToy(4, seed: 2);
        using var distiller = DeFeatRecipe.Create(teacher, student, Options());
        var images = torch.randn(2, 3, 16, 16);
        var alone = () => student.call(images);

        using (distiller.Suspend())
        {
            var inner = distiller.Suspend();
            inner.Dispose();
            inner.Dispose();
            alone.Should().NotThrow("the outer handle still holds the suspension");
        }

        alone.Should().Throw<InvalidOperationException>("the last handle resumed the relay");
    }

    [Fact]
    public void A_negative_step_is_refused_by_the_setter_and_by_every_load_naming_it()
    {
        using var scope = torch.NewDisposeScope();
        using var teacher = new TwoStageToy(8, seed: 1);
        using var student = new TwoStageToy(4, seed: 2);
        using var distiller = DeFeatRecipe.Create(teacher, student, Options());
        distiller.Step = 3;

        FluentActions.Invoking(() => distiller.Step = -1).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("Step");
        var negative = distiller.state_dict().ToDictionary(pair => pair.Key, pair => pair.Value.clone());
        negative["step"].fill_(-5);
        FluentActions.Invoking(() => distiller.load_state_dict(negative))
            .Should().Throw<ArgumentException>().WithParameterName("source").WithMessage("*'step' is -5; it must be ≥ 0*");
        distiller.Step.Should().Be(3);

        using var other = DeFeatRecipe.Create(new TwoStageToy(8, seed: 1), new TwoStageToy(4, seed: 2), Options());
        var path = Path.Combine(Path.GetTempPath(), $"distiller-negative-{Guid.NewGuid():N}.bin");
        try
        {
            using (torch.no_grad())
            {
                other.state_dict()["step"].fill_(-5);
            }

            other.save(path);
            FluentActions.Invoking(() => distiller.load(path))
                .Should().Throw<ArgumentException>().WithParameterName("location").WithMessage("*'step' is -5*");
            distiller.Step.Should().Be(3);
            distiller.state_dict()["step"].item<long>().Should().Be(3);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Terms_with_the_same_name_or_no_terms_are_refused_and_leave_the_models_untouched()
    {
        using var scope = torch.NewDisposeScope();
        using var teacher = new TwoStageToy(8, seed: 1);
        using var student = new TwoStageToy(4, seed: 2);
        var neck = () => new FeatureTerm(new() { Name = "neck", TeacherPath = "neck", StudentPath = "neck", Loss = new PkdTermLoss() });

        var twice = () => new Distiller(teacher, student, [neck(), neck()]);
        twice.Should().Throw<ArgumentException>().WithMessage("terms[1] is named 'neck' like an earlier term*");
        var none = () => new Distiller(teacher, student, Array.Empty<DistillationTerm>());
        none.Should().Throw<ArgumentException>().WithMessage("A distiller needs at least one term*");
        var badName = () => new FeatureTerm(new() { Name = "neck loss", TeacherPath = "neck", StudentPath = "neck", Loss = new PkdTermLoss() });
        badName.Should().Throw<ArgumentException>().WithParameterName("options.Name").WithMessage("options.Name (a term's name) must*'neck loss'*");
        teacher.training.Should().BeTrue("a refused distiller does not freeze the teacher");
        teacher.parameters().Should().OnlyContain(parameter => parameter.requires_grad);
    }

    [Fact]
    public void A_term_of_another_distiller_is_refused_and_left_to_it_while_the_new_terms_are_disposed()
    {
        using var scope = torch.NewDisposeScope();
        using var teacher = new TwoStageToy(8, seed: 1);
        using var student = new TwoStageToy(4, seed: 2);
        using var teacher2 = new TwoStageToy(8, seed: 3);
        using var student2 = new TwoStageToy(4, seed: 4);
        var neck = new FeatureTerm(new() { Name = "neck", TeacherPath = "neck", StudentPath = "neck", Loss = new PkdTermLoss(), StudentChannels = [8, 8], TeacherChannels = [16, 16] });
        using var first = new Distiller(teacher, student, [neck]);
        FeatureTerm Own() => new(new() { Name = "own", TeacherPath = "neck", StudentPath = "neck", Loss = new PkdTermLoss(), StudentChannels = [8, 8], TeacherChannels = [16, 16] });
        var own = Own();
        var sameModel = Own();
        var (ownWeights, sameModelWeights, neckWeights) = (own.Adapters!.parameters().ToList(), sameModel.Adapters!.parameters().ToList(), neck.Adapters!.parameters().ToList());

        var reuse = () => new Distiller(teacher2, student2, [own, neck]);
        var sameInstance = () => new Distiller(teacher2, teacher2, [sameModel, neck]);

        reuse.Should().Throw<ArgumentException>().WithMessage("The term 'neck' already belongs to a distiller; create a new term for each distiller.*");
        sameInstance.Should().Throw<ArgumentException>().WithMessage("*same TwoStageToy instance*");
        ownWeights.Should().NotBeEmpty().And.OnlyContain(parameter => parameter.IsInvalid, "the refused distiller owned the term it was given new");
        sameModelWeights.Should().NotBeEmpty().And.OnlyContain(parameter => parameter.IsInvalid);
        neckWeights.Should().NotBeEmpty().And.OnlyContain(parameter => !parameter.IsInvalid, "the other distiller's term is not the refused one's to dispose");
        (HookInspection.HookCount(teacher2) + HookInspection.HookCount(student2)).Should().Be(0);
        var images = torch.randn(2, 3, 16, 16);
        first.Teacher.Run(() => teacher.call(images));
        student.call(images);
        var losses = first.call(GtBoxes(), Size);
        losses.Contains("neck").Should().BeTrue();
        double.IsFinite(losses.Total.item<float>()).Should().BeTrue("the first distiller still records and computes its term");
    }

    [Fact]
    public void A_pkd_term_is_the_pkd_loss_of_the_recorded_pair()
    {
        using var scope = torch.NewDisposeScope();
        using var teacher = new TwoStageToy(8, seed: 1);
        using var student = new TwoStageToy(4, seed: 2);
        using var distiller = new Distiller(teacher, student,
        [
            new FeatureTerm(new() { Name = "pkd", TeacherPath = "neck", StudentPath = "neck", Loss = new PkdTermLoss(), StudentChannels = [8, 8], TeacherChannels = [16, 16] }),
            new ProposalKdTerm(Options().ProposalKd!),
        ]);
        var images = torch.randn(2, 3, 16, 16);
        distiller.Teacher.Run(() => teacher.call(images));
        student.call(images);
        var kd = distiller.call(GtBoxes(), Size);

        // PKD written out: per channel, standardise over (B, H, W), then ½·mean((ŝ − t̂)²), summed over levels.
        using var noGrad = torch.no_grad();
        var adapters = ((FeatureTerm)distiller.Terms[0]).Adapters!;
        var expected = 0.0;
        for (var level = 0; level < 2; level++)
        {
            var s = Normalised(adapters[level].call(student.Neck.LastOutput[level]));
            var t = Normalised(teacher.Neck.LastOutput[level]);
            expected += 0.5 * s.Zip(t, (a, b) => (a - b) * (a - b)).Average();
        }

        kd.Parts.Select(part => part.Name).Should().Equal("pkd", "proposal_object", "proposal_background");
        Value(kd["pkd"]).Should().BeApproximately(expected, 1e-4 * expected);
    }

    /// <summary>Per-channel standardisation over batch and positions ((x − μ) / (σ + ε), σ unbiased, ε = 1e-6), row-major order kept.</summary>
    private static double[] Normalised(Tensor map)
    {
        var values = Values(map);
        var (batch, channels, cells) = ((int)map.shape[0], (int)map.shape[1], (int)(map.shape[2] * map.shape[3]));
        var result = new double[values.Length];
        for (var c = 0; c < channels; c++)
        {
            var indices = Enumerable.Range(0, batch).SelectMany(b => Enumerable.Range(0, cells).Select(i => (((b * channels) + c) * cells) + i)).ToArray();
            var mean = indices.Average(i => values[i]);
            var deviation = Math.Sqrt(indices.Sum(i => (values[i] - mean) * (values[i] - mean)) / (indices.Length - 1));
            foreach (var i in indices)
            {
                result[i] = (values[i] - mean) / (deviation + 1e-6);
            }
        }

        return result;
    }
}
