using DeFeat.Hooks.Balance;
using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.Tests.Toys;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Reliability;

/// <summary>
/// A distiller state saved for other adaptation layers (another student or teacher width), other terms, another dtype,
/// or not a state at all is refused by every way state enters (load_state_dict, load(path), load(reader)), naming the
/// key, both shapes and which channel count differs, and the distiller is left exactly as it was.
/// </summary>
public sealed class MismatchedStateTests : IDisposable
{
    private const string Weight0 = "neck.adapters.levels.0.conv.weight";
    private const string Bias0 = "neck.adapters.levels.0.conv.bias";
    private readonly DisposeScope scope = torch.NewDisposeScope();
    private readonly List<string> files = [];

    public void Dispose()
    {
        foreach (var file in files)
        {
            File.Delete(file);
        }

        scope.Dispose();
    }

    /// <summary>A preset distiller for a teacher of neck width 2·teacherWidth and a student of 2·studentWidth channels (two levels).</summary>
    private static Distiller Distiller(long teacherWidth, long studentWidth) => DeFeatRecipe.Create(
        new TwoStageToy(teacherWidth, seed: 1),
        new TwoStageToy(studentWidth, seed: 2),
        new DeFeatRecipeOptions
        {
            TeacherNeckPath = "neck",
            StudentNeckPath = "neck",
            TeacherChannels = [2 * teacherWidth, 2 * teacherWidth],
            StudentChannels = [2 * studentWidth, 2 * studentWidth],
        });

    private static Dictionary<string, Tensor> Copy(Distiller distiller)
        => distiller.state_dict().ToDictionary(pair => pair.Key, pair => pair.Value.detach().clone());

    private static void ShouldBeUnchanged(Distiller distiller, Dictionary<string, Tensor> before, long step)
    {
        distiller.Step.Should().Be(step);
        var after = distiller.state_dict();
        after.Keys.Should().BeEquivalentTo(before.Keys);
        foreach (var (key, value) in before)
        {
            after[key].shape.Should().Equal(value.shape);
            after[key].eq(value).all().item<bool>().Should().BeTrue($"'{key}' must be left as it was");
        }
    }

    private string Saved(Distiller distiller)
    {
        var path = Path.Combine(Path.GetTempPath(), $"distiller-state-{Guid.NewGuid():N}.bin");
        files.Add(path);
        distiller.save(path);
        return path;
    }

    public enum Way
    {
        StateDict,
        Path,
        Reader,
    }

    private (Action Load, string Argument) Loading(Distiller into, Distiller from, Way way)
    {
        var path = Saved(from);
        var state = Copy(from);
        return way switch
        {
            Way.StateDict => (() => into.load_state_dict(state), "source"),
            Way.Path => (() => into.load(path), "location"),
            _ => (() =>
            {
                using var reader = new BinaryReader(File.OpenRead(path));
                into.load(reader);
            }, "reader"),
        };
    }

    [Theory]
    [InlineData(Way.StateDict)]
    [InlineData(Way.Path)]
    [InlineData(Way.Reader)]
    public void Adaptation_layers_for_another_student_width_are_refused_naming_the_key_both_shapes_and_the_student(Way way)
    {
        using var distiller = Distiller(teacherWidth: 8, studentWidth: 4);
        using var narrower = Distiller(teacherWidth: 8, studentWidth: 2);
        distiller.Step = 3;
        var before = Copy(distiller);
        var (load, argument) = Loading(distiller, narrower, way);

        load.Should().Throw<ArgumentException>().WithParameterName(argument).WithMessage(
            $"The distiller state's '{Weight0}' has shape [16, 4, 3, 3], this distiller's [16, 8, 3, 3]: level 0 of the adaptation layers of "
            + "the term 'neck' were saved for other channel counts: the student's channels (C_s = 4 in the state, 8 here)*Nothing was loaded*");
        ShouldBeUnchanged(distiller, before, step: 3);
    }

    [Theory]
    [InlineData(Way.StateDict)]
    [InlineData(Way.Path)]
    [InlineData(Way.Reader)]
    public void Adaptation_layers_for_another_teacher_width_are_refused_naming_the_teacher(Way way)
    {
        using var distiller = Distiller(teacherWidth: 8, studentWidth: 4);
        using var otherTeacher = Distiller(teacherWidth: 4, studentWidth: 4);
        var before = Copy(distiller);
        var (load, argument) = Loading(distiller, otherTeacher, way);

        load.Should().Throw<ArgumentException>().WithParameterName(argument).WithMessage(
            $"The distiller state's '{Weight0}' has shape [8, 8, 3, 3], this distiller's [16, 8, 3, 3]*the teacher's channels (C_t = 8 in the state, 16 here)*");
        ShouldBeUnchanged(distiller, before, step: 0);
    }

    [Fact]
    public void A_broadcastable_entry_of_another_shape_is_refused_instead_of_being_copied_into_every_element()
    {
        using var distiller = Distiller(teacherWidth: 8, studentWidth: 4);
        var before = Copy(distiller);
        var state = Copy(distiller);
        state[Bias0] = torch.full(1, 5.0f); // copy_ would broadcast it into all 16 biases

        var load = () => distiller.load_state_dict(state);

        load.Should().Throw<ArgumentException>().WithParameterName("source").WithMessage(
            $"The distiller state's '{Bias0}' has shape [1], this distiller's [16]*the teacher's channels (C_t = 1 in the state, 16 here)*");
        ShouldBeUnchanged(distiller, before, step: 0);
    }

    [Theory]
    [InlineData(Way.StateDict)]
    [InlineData(Way.Path)]
    public void A_state_of_a_distiller_with_other_terms_lists_the_missing_keys(Way way)
    {
        using var distiller = Distiller(teacherWidth: 8, studentWidth: 4);
        using var unadapted = DeFeatRecipe.Create(
            new TwoStageToy(8, seed: 1), new TwoStageToy(8, seed: 2), new DeFeatRecipeOptions { TeacherNeckPath = "neck", StudentNeckPath = "neck" });
        var before = Copy(distiller);
        var (load, argument) = Loading(distiller, unadapted, way);

        load.Should().Throw<ArgumentException>().WithParameterName(argument).WithMessage(
            $"The distiller state does not have this distiller's entries: '{Weight0}', '{Bias0}', * missing*no term with parameters in the state, "
            + "terms with parameters neck here*Nothing was loaded*");
        ShouldBeUnchanged(distiller, before, step: 0);
    }

    [Fact]
    public void A_state_saved_in_another_dtype_is_refused_by_load_naming_both_dtypes()
    {
        using var distiller = Distiller(teacherWidth: 8, studentWidth: 4);
        using var doubled = Distiller(teacherWidth: 8, studentWidth: 4);
        doubled.to(float64);
        var before = Copy(distiller);
        var (load, argument) = Loading(distiller, doubled, Way.Path);

        load.Should().Throw<ArgumentException>().WithParameterName(argument).WithMessage(
            $"The distiller state's '{Weight0}' has dtype Float64, this distiller's Float32*");
        ShouldBeUnchanged(distiller, before, step: 0);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_null_or_disposed_entry_is_named(bool disposed)
    {
        using var distiller = Distiller(teacherWidth: 8, studentWidth: 4);
        var before = Copy(distiller);
        var state = Copy(distiller);
        if (disposed)
        {
            state[Bias0].Dispose();
        }
        else
        {
            state[Bias0] = null!;
        }

        var load = () => distiller.load_state_dict(state);

        load.Should().Throw<ArgumentException>().WithParameterName("source")
            .WithMessage($"The distiller state's '{Bias0}' is {(disposed ? "a disposed tensor" : "null")}*Nothing was loaded*");
        ShouldBeUnchanged(distiller, before, step: 0);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_null_or_disposed_balancer_entry_is_named(bool disposed)
    {
        using var balancer = new DistillationBalancer(new Dictionary<string, int> { ["neck"] = 2 });
        var state = balancer.state_dict().ToDictionary(pair => pair.Key, pair => pair.Value.detach().clone());
        if (disposed)
        {
            state["scales"].Dispose();
        }
        else
        {
            state["scales"] = null!;
        }

        var load = () => balancer.load_state_dict(state);

        load.Should().Throw<ArgumentException>().WithParameterName("source")
            .WithMessage($"The balancer state's 'scales' is {(disposed ? "a disposed tensor" : "null")}*");
        balancer.Scales.sum().item<float>().Should().Be(2f, "both scales keep their initial value, MaximumScale 1");
    }

    [Fact]
    public void A_truncated_file_is_refused_naming_the_location_and_nothing_is_loaded()
    {
        using var distiller = Distiller(teacherWidth: 8, studentWidth: 4);
        using var other = Distiller(teacherWidth: 8, studentWidth: 4);
        other.Step = 7;
        var path = Saved(other);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 10)]);
        var before = Copy(distiller);

        var load = () => distiller.load(path);

        load.Should().Throw<ArgumentException>().WithParameterName("location").WithMessage("location holds no readable distiller state*Nothing was loaded*");
        ShouldBeUnchanged(distiller, before, step: 0);
    }

    [Fact]
    public void A_fitting_state_still_loads_every_way_with_its_step()
    {
        using var source = Distiller(teacherWidth: 8, studentWidth: 4);
        source.Step = 5;
        using (torch.no_grad())
        {
            source.state_dict()[Bias0].fill_(0.25);
        }

        foreach (var way in new[] { Way.StateDict, Way.Path, Way.Reader })
        {
            using var target = Distiller(teacherWidth: 8, studentWidth: 4);
            var (load, _) = Loading(target, source, way);

            load();

            target.Step.Should().Be(5, $"{way} restores the step");
            target.state_dict()[Bias0].sum().item<float>().Should().Be(16 * 0.25f, $"{way} copies the adapters' biases");
        }
    }
}
