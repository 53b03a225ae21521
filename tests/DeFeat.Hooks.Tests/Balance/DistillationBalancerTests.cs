using DeFeat.Hooks.Balance;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Balance;

/// <summary>
/// The automatic balance against a case worked out by hand. Toy loss per level ½‖S_l − T_l‖² (gradient S_l − T_l), task
/// loss Σ a_l·S_l (gradient a_l). Level 0: S = [1 2; 3 4] (‖S‖ = √30, L = 15), ‖a‖ = 3. Level 1: S = 1 (‖S‖ = 2, L = 2),
/// ‖a‖ = 1. Target ρ = 0.5: s_0 = 0.5·3/√30, s_1 = 0.5·1/2 = 0.25.
/// </summary>
public class DistillationBalancerTests
{
    private static readonly Dictionary<string, int> NeckWithTwoLevels = new() { ["neck"] = 2 };

    private static readonly DistillationBalancerOptions HandCase = new() { TargetRatio = 0.5, Interval = 2, Smoothing = 0.5 };

    private static Tensor[] Teacher() => [torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)];

    private static Tensor[] Student(float level0Factor = 1)
        => [(torch.tensor(new float[] { 1, 2, 3, 4 }).reshape(1, 1, 2, 2) * level0Factor).requires_grad_(), torch.ones(1, 1, 2, 2).requires_grad_()];

    private static Tensor Task(Tensor[] s) => (s[0] * torch.tensor(new float[] { 3, 0, 0, 0 }).reshape(1, 1, 2, 2)).sum() + (s[1] * 0.5f).sum();

    private static double[] Values(Tensor t) => [.. t.to(float64).cpu().data<double>()];

    [Fact]
    public void The_first_step_sets_each_levels_scale_to_rho_times_the_gradient_ratio_and_scales_the_loss_and_its_gradient()
    {
        using var scope = torch.NewDisposeScope();
        using var toy = new BalanceToy();
        using var balancer = new DistillationBalancer(NeckWithTwoLevels, HandCase);
        var student = Student();

        var loss = balancer.call(toy.Step(Teacher(), student), Task(student));

        var (s0, s1) = (0.5 * 3 / Math.Sqrt(30), 0.25);
        Values(balancer.Scales).Should().Equal([s0, s1], (a, b) => Math.Abs(a - b) < 1e-6);
        loss.item<float>().Should().BeApproximately((float)((s0 * 15) + (s1 * 2)), 1e-5f);
        loss.backward();
        Values(student[0].grad!).Should().Equal([1 * s0, 2 * s0, 3 * s0, 4 * s0], (a, b) => Math.Abs(a - b) < 1e-6);
        Values(student[1].grad!).Should().OnlyContain(g => Math.Abs(g - s1) < 1e-6);
        balancer.Step.Should().Be(1);
    }

    [Fact]
    public void Between_measurements_the_scales_hold_and_at_the_next_the_running_averages_move_them()
    {
        using var scope = torch.NewDisposeScope();
        using var toy = new BalanceToy();
        using var balancer = new DistillationBalancer(NeckWithTwoLevels, HandCase);
        var first = Student();
        balancer.call(toy.Step(Teacher(), first), Task(first));
        var scalesAfterFirst = Values(balancer.Scales);

        // Step 1 (no measurement, interval 2): S0 doubled, L0 = 60; the scales are those of step 0.
        var doubled = Student(2);
        var loss = balancer.call(toy.Step(Teacher(), doubled), Task(doubled));
        Values(balancer.Scales).Should().Equal(scalesAfterFirst);
        loss.item<float>().Should().BeApproximately((float)((scalesAfterFirst[0] * 60) + (scalesAfterFirst[1] * 2)), 1e-4f);

        // Step 2 (measured): ‖∂L/∂S0‖ = 2√30, averaged with smoothing 0.5: 1.5√30; the task's stays 3. Level 1 unchanged.
        var again = Student(2);
        balancer.call(toy.Step(Teacher(), again), Task(again));
        Values(balancer.Scales).Should().Equal([0.5 * 3 / (1.5 * Math.Sqrt(30)), 0.25], (a, b) => Math.Abs(a - b) < 1e-6);
    }

    [Fact]
    public void It_never_scales_above_the_maximum_and_per_term_uses_the_norm_over_all_levels()
    {
        using var scope = torch.NewDisposeScope();
        using var toy = new BalanceToy();
        using var generous = new DistillationBalancer(NeckWithTwoLevels, HandCase with { TargetRatio = 100 });
        using var perTerm = new DistillationBalancer(NeckWithTwoLevels, HandCase with { PerLevel = false });
        var student = Student();
        var losses = toy.Step(Teacher(), student);
        var task = Task(student);

        generous.call(losses, task);
        perTerm.call(losses, task);

        Values(generous.Scales).Should().Equal(1.0, 1.0);
        // ‖(∂/∂S0, ∂/∂S1)‖ = √(30 + 4), ‖(a0, a1)‖ = √(9 + 1).
        Values(perTerm.Scales).Should().ContainSingle().Which.Should().BeApproximately(0.5 * Math.Sqrt(10) / Math.Sqrt(34), 1e-6);
        perTerm.Entries.Should().Equal(("neck", -1));
    }

    [Fact]
    public void With_parts_named_it_scales_only_those_and_adds_the_others_at_their_own_weight()
    {
        using var scope = torch.NewDisposeScope();
        using var toy = new BalanceToy(linearPart: true);
        using var balancer = new DistillationBalancer(NeckWithTwoLevels, HandCase with { Parts = ["sq"] });
        var student = Student();

        var loss = balancer.call(toy.Step(Teacher(), student), Task(student));

        // The scales come from the sq part's gradient alone (as without lin); lin = Σ S = 10 + 4 is added unscaled, and its
        // gradient 1 reaches every cell unscaled.
        var (s0, s1) = (0.5 * 3 / Math.Sqrt(30), 0.25);
        Values(balancer.Scales).Should().Equal([s0, s1], (a, b) => Math.Abs(a - b) < 1e-6);
        loss.item<float>().Should().BeApproximately((float)((s0 * 15) + (s1 * 2) + 14), 1e-5f);
        loss.backward();
        Values(student[0].grad!).Should().Equal([(1 * s0) + 1, (2 * s0) + 1, (3 * s0) + 1, (4 * s0) + 1], (a, b) => Math.Abs(a - b) < 1e-6);
        Values(student[1].grad!).Should().OnlyContain(g => Math.Abs(g - (s1 + 1)) < 1e-6);
    }

    [Fact]
    public void Parts_that_no_term_has_or_empty_part_lists_are_refused_naming_them()
    {
        using var scope = torch.NewDisposeScope();
        using var toy = new BalanceToy(linearPart: true);
        using var balancer = new DistillationBalancer(NeckWithTwoLevels, HandCase with { Parts = ["background"] });
        var student = Student();

        var call = () => balancer.call(toy.Step(Teacher(), student), Task(student));

        call.Should().Throw<ArgumentException>().WithMessage("options.Parts names 'background', which no term has; this step's parts are neck_sq, neck_lin*");
        var empty = () => new DistillationBalancerOptions { Parts = [] };
        empty.Should().Throw<ArgumentException>().WithParameterName("Parts");
        var blank = () => new DistillationBalancerOptions { Parts = ["background", ""] };
        blank.Should().Throw<ArgumentException>().WithParameterName("Parts[1]");
    }

    [Fact]
    public void Its_state_resumes_the_scales_and_the_measurement_rhythm()
    {
        using var scope = torch.NewDisposeScope();
        using var toy = new BalanceToy();
        using var original = new DistillationBalancer(NeckWithTwoLevels, HandCase);
        for (var i = 0; i < 3; i++)
        {
            var s = Student(i + 1);
            original.call(toy.Step(Teacher(), s), Task(s));
        }

        using var resumed = new DistillationBalancer(NeckWithTwoLevels, HandCase);
        var path = Path.Combine(Path.GetTempPath(), $"kd-balancer-{Guid.NewGuid():N}.bin");
        try
        {
            original.save(path);
            resumed.load(path);
        }
        finally
        {
            File.Delete(path);
        }

        resumed.Step.Should().Be(3);
        Values(resumed.Scales).Should().Equal(Values(original.Scales));

        // Step 3 is not a measurement step (interval 2): other features leave the scales as they were.
        var other = Student(10);
        resumed.call(toy.Step(Teacher(), other), Task(other));
        Values(resumed.Scales).Should().Equal(Values(original.Scales));
    }

    [Fact]
    public void A_state_of_other_terms_or_a_negative_step_is_refused_naming_it()
    {
        using var scope = torch.NewDisposeScope();
        using var balancer = new DistillationBalancer(NeckWithTwoLevels, HandCase);
        using var other = new DistillationBalancer(new Dictionary<string, int> { ["neck"] = 5 }, HandCase);

        FluentActions.Invoking(() => balancer.load_state_dict(other.state_dict()))
            .Should().Throw<ArgumentException>().WithMessage("*'scales' has shape [5]*this balancer's [2]*neck[0], neck[1]*");
        var negative = balancer.state_dict().ToDictionary(pair => pair.Key, pair => pair.Value.clone());
        negative["step"] = torch.tensor(-1L);
        FluentActions.Invoking(() => balancer.load_state_dict(negative))
            .Should().Throw<ArgumentException>().WithMessage("*step (-1)*≥ 0*");
        balancer.Step.Should().Be(0);

        var path = Path.Combine(Path.GetTempPath(), $"kd-balancer-{Guid.NewGuid():N}.bin");
        try
        {
            other.save(path);
            FluentActions.Invoking(() => balancer.load(path))
                .Should().Throw<ArgumentException>().WithParameterName("location").WithMessage("*does not fit this balancer (entries: neck[0], neck[1]*");
            Values(balancer.Scales).Should().Equal(1.0, 1.0);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Bad_settings_and_losses_of_another_distiller_are_named()
    {
        using var scope = torch.NewDisposeScope();
        FluentActions.Invoking(() => new DistillationBalancer(new Dictionary<string, int>())).Should().Throw<ArgumentException>().WithParameterName("levelsByTerm");
        FluentActions.Invoking(() => new DistillationBalancer(new Dictionary<string, int> { ["neck"] = 0 }))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName("levelsByTerm[neck]");
        FluentActions.Invoking(() => new DistillationBalancerOptions { TargetRatio = 0 }).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("TargetRatio");
        FluentActions.Invoking(() => new DistillationBalancerOptions { Interval = 0 }).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("Interval");
        FluentActions.Invoking(() => new DistillationBalancerOptions { Smoothing = 1 }).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("Smoothing");
        FluentActions.Invoking(() => new DistillationBalancerOptions { MaximumScale = double.NaN }).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("MaximumScale");

        using var toy = new BalanceToy();
        var student = Student();
        var losses = toy.Step(Teacher(), student);
        using var forOtherTerms = new DistillationBalancer(new Dictionary<string, int> { ["backbone"] = 2 });
        FluentActions.Invoking(() => forOtherTerms.call(losses, Task(student)))
            .Should().Throw<ArgumentException>().WithParameterName("losses").WithMessage("*neck*made for backbone*");
        using var forOtherLevels = new DistillationBalancer(new Dictionary<string, int> { ["neck"] = 3 });
        FluentActions.Invoking(() => forOtherLevels.call(losses, Task(student)))
            .Should().Throw<ArgumentException>().WithParameterName("losses").WithMessage("*'neck' read 2 student tensor(s)*made for 3*");
    }
}
