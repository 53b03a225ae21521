using DeFeat.Hooks.Balance;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Balance;

/// <summary>
/// The gradient-balance diagnostic against gradients worked out by hand: the toy's loss ½‖S − T‖² has gradient S − T at
/// the student's features, a linear task loss Σ a·S has gradient a.
/// </summary>
public class GradientBalanceTests
{
    // Level 0: S = [1 2; 3 4], T = 0, task weights a = [3 0; 0 0]. Level 1: S = 1 everywhere, T = 0, a = 0.5 everywhere.
    private static (Tensor[] Teacher, Tensor[] Student, Tensor Task) Case()
    {
        var s0 = torch.tensor(new float[] { 1, 2, 3, 4 }).reshape(1, 1, 2, 2).requires_grad_();
        var s1 = torch.ones(1, 1, 2, 2).requires_grad_();
        var task = (s0 * torch.tensor(new float[] { 3, 0, 0, 0 }).reshape(1, 1, 2, 2)).sum() + (s1 * 0.5f).sum();
        return ([torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)], [s0, s1], task);
    }

    [Fact]
    public void Norms_ratios_and_cosines_are_those_worked_out_by_hand()
    {
        using var scope = torch.NewDisposeScope();
        using var toy = new BalanceToy();
        var (teacher, student, task) = Case();
        var losses = toy.Step(teacher, student);

        var report = GradientBalance.Measure(losses, task);

        // Level 0: ‖S − T‖ = √30, ‖a‖ = 3, cos = (1·3)/(√30·3). Level 1: ‖S‖ = 2, ‖a‖ = 1, cos = (4·0.5)/(2·1) = 1.
        var level0 = report.Entries.Single(e => e.Level == 0 && e.IsTermTotal);
        level0.DistillationNorm.Should().BeApproximately(Math.Sqrt(30), 1e-5);
        level0.TaskNorm.Should().BeApproximately(3, 1e-6);
        level0.Ratio.Should().BeApproximately(Math.Sqrt(30) / 3, 1e-5);
        level0.Cosine.Should().BeApproximately(1 / Math.Sqrt(30), 1e-6);
        var level1 = report.Entries.Single(e => e.Level == 1 && e.IsTermTotal);
        level1.DistillationNorm.Should().BeApproximately(2, 1e-6);
        level1.Ratio.Should().BeApproximately(2, 1e-6);
        level1.Cosine.Should().BeApproximately(1, 1e-6);
        report.Entries.Where(e => !e.IsTermTotal).Select(e => e.Loss).Should().OnlyContain(name => name == "neck_sq");
        report.Entries.Should().OnlyContain(e => e.Site == "neck" && e.Term == "neck");
    }

    [Fact]
    public void The_warning_names_every_dominated_level_strongest_first_and_the_factor()
    {
        using var scope = torch.NewDisposeScope();
        using var toy = new BalanceToy();
        var (teacher, student, task) = Case();
        var report = GradientBalance.Measure(toy.Step(teacher, student), task);

        report.Dominating(1.0).Select(e => e.Level).Should().Equal(1, 0);
        var warning = report.Warning(1.0);
        warning.Should().Contain("neck at neck level 1: 2×").And.Contain("neck at neck level 0: 1.83×").And.Contain("by 0.5");
        warning!.IndexOf("level 1", StringComparison.Ordinal).Should().BeLessThan(warning.IndexOf("level 0", StringComparison.Ordinal));
        report.Warning(2.5).Should().BeNull();
    }

    [Fact]
    public void Measuring_leaves_the_gradients_and_the_graph_to_the_steps_own_backward()
    {
        using var scope = torch.NewDisposeScope();
        using var toy = new BalanceToy();
        var (teacher, student, task) = Case();
        var losses = toy.Step(teacher, student);

        GradientBalance.Measure(losses, task);
        student[0].grad.Should().BeNull("the diagnostic must not accumulate into .grad");
        (task + losses.Total).backward();

        // ∂/∂S0 = a + (S0 − T) = [3 0; 0 0] + [1 2; 3 4].
        student[0].grad!.data<float>().ToArray().Should().Equal(4, 2, 3, 4);
    }

    [Fact]
    public void An_extra_site_measures_every_term_there_and_zero_where_the_task_does_not_reach()
    {
        using var scope = torch.NewDisposeScope();
        using var toy = new BalanceToy();
        var (teacher, student, _) = Case();
        var losses = toy.Step(teacher, student);
        var taskOnLevel0Only = (student[0] * 2f).sum();

        var report = GradientBalance.Measure(losses, taskOnLevel0Only, new Dictionary<string, IReadOnlyList<Tensor>> { ["stage"] = [student[1]] });

        var atSite = report.Entries.Single(e => e.Site == "stage" && e.IsTermTotal);
        atSite.DistillationNorm.Should().BeApproximately(2, 1e-6);
        atSite.TaskNorm.Should().Be(0);
        double.IsPositiveInfinity(atSite.Ratio).Should().BeTrue();
        report.Dominating().Should().NotContain(atSite, "where the task does not reach, there is nothing to drown");
    }

    [Fact]
    public void Bad_arguments_are_named()
    {
        using var scope = torch.NewDisposeScope();
        using var toy = new BalanceToy();
        var (teacher, student, task) = Case();
        var losses = toy.Step(teacher, student);

        FluentActions.Invoking(() => GradientBalance.Measure(null!, task)).Should().Throw<ArgumentNullException>().WithParameterName("losses");
        FluentActions.Invoking(() => GradientBalance.Measure(losses, torch.ones(2))).Should().Throw<ArgumentException>().WithParameterName("taskLoss");
        FluentActions.Invoking(() => GradientBalance.Measure(losses, task).Warning(0)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("maximumRatio");
    }
}
