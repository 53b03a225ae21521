using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.RoiHeads;
using DeFeat.Hooks.Terms;
using DeFeat.Hooks.Tests.Toys;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Reliability;

/// <summary>
/// A term disposed by its user while its distiller still holds it is named (an <see cref="ObjectDisposedException"/>
/// saying which term and what to do) by every use of the distiller, instead of a <see cref="NullReferenceException"/>
/// from its detached taps.
/// </summary>
public sealed class DisposedTermTests : IDisposable
{
    private static readonly ImageSize Size = new(16, 16);
    private readonly DisposeScope scope = torch.NewDisposeScope();
    private readonly TwoStageToy teacher = new(8, seed: 1);
    private readonly TwoStageToy student = new(4, seed: 2);

    public void Dispose()
    {
        teacher.Dispose();
        student.Dispose();
        scope.Dispose();
    }

    private static Tensor[] GtBoxes() => [torch.tensor(new float[,] { { 1, 2, 9, 11 } }), torch.zeros(0, 4)];

    /// <summary>The preset with adaptation layers and the RoI-head term (terms "neck" and "proposal").</summary>
    private Distiller Distiller() => DeFeatRecipe.Create(teacher, student, new DeFeatRecipeOptions
    {
        TeacherNeckPath = "neck",
        StudentNeckPath = "neck",
        StudentChannels = [8, 8],
        TeacherChannels = [16, 16],
        ProposalKd = new() { TeacherHeadPath = "roi_head", StudentHeadPath = "roi_head", Arguments = new RoiHeadArgumentPositions(1, 2) },
    });

    private void Forwards(Distiller distiller)
    {
        var images = torch.randn(2, 3, 16, 16);
        distiller.Teacher.Run(() => teacher.call(images));
        student.call(images);
    }

    [Theory]
    [InlineData(0, "neck")]
    [InlineData(1, "proposal")]
    public void Calling_the_distiller_after_a_term_was_disposed_names_the_term(int index, string name)
    {
        using var distiller = Distiller();
        Forwards(distiller);
        distiller.call(GtBoxes(), Size);

        distiller.Terms[index].Dispose();
        var images = torch.randn(2, 3, 16, 16);
        distiller.Teacher.Run(() => teacher.call(images));
        student.call(images);
        var call = () => distiller.call(GtBoxes(), Size);

        call.Should().Throw<ObjectDisposedException>()
            .WithMessage($"The term '{name}' (Distiller.Terms[{index}]) was disposed while its distiller still uses it*do not dispose a term you gave to a distiller*");
        distiller.Step.Should().Be(1);
    }

    [Fact]
    public void Loading_saving_or_suspending_a_distiller_whose_term_was_disposed_names_the_term()
    {
        using var distiller = Distiller();
        var state = distiller.state_dict().ToDictionary(pair => pair.Key, pair => pair.Value.detach().clone());
        var path = Path.Combine(Path.GetTempPath(), $"distiller-disposed-term-{Guid.NewGuid():N}.bin");
        using (var other = DeFeatRecipe.Create(new TwoStageToy(8, seed: 1), new TwoStageToy(4, seed: 2), new DeFeatRecipeOptions
        {
            TeacherNeckPath = "neck",
            StudentNeckPath = "neck",
            StudentChannels = [8, 8],
            TeacherChannels = [16, 16],
        }))
        {
            other.save(path);
        }

        try
        {
            distiller.Terms[0].Dispose();

            const string Named = "The term 'neck' (Distiller.Terms[0]) was disposed*";
            FluentActions.Invoking(() => distiller.load_state_dict(state)).Should().Throw<ObjectDisposedException>().WithMessage(Named);
            FluentActions.Invoking(() => distiller.load(path)).Should().Throw<ObjectDisposedException>().WithMessage(Named);
            FluentActions.Invoking(() => distiller.state_dict()).Should().Throw<ObjectDisposedException>().WithMessage(Named);
            FluentActions.Invoking(() => distiller.save(path)).Should().Throw<ObjectDisposedException>().WithMessage(Named);
            FluentActions.Invoking(() => distiller.Suspend()).Should().Throw<ObjectDisposedException>().WithMessage(Named);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_term_disposed_while_suspended_neither_breaks_the_resumption_nor_the_distillers_own_dispose()
    {
        var distiller = Distiller();
        var suspension = distiller.Suspend();
        distiller.Terms[1].Dispose();

        suspension.Dispose();
        var call = () => distiller.call(GtBoxes(), Size);
        call.Should().Throw<ObjectDisposedException>().WithMessage("The term 'proposal'*");

        FluentActions.Invoking(distiller.Dispose).Should().NotThrow();
        var images = torch.randn(2, 3, 16, 16);
        FluentActions.Invoking(() => student.call(images)).Should().NotThrow("the disposed distiller left the student as it was");
    }

    [Fact]
    public void A_term_disposed_before_it_is_given_to_a_distiller_is_refused_by_name()
    {
        var neck = new FeatureTerm(new() { Name = "neck", TeacherPath = "neck", StudentPath = "neck", Loss = new PkdTermLoss() });
        neck.Dispose();

        var create = () => new Distiller(teacher, student, [neck]);

        create.Should().Throw<ObjectDisposedException>().WithMessage("terms[0] (the term 'neck') was disposed*");
        teacher.training.Should().BeTrue("a refused distiller does not freeze the teacher");
    }
}
