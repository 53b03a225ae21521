using DeFeat.Losses.Proposals;
using DeFeat.Losses.Tests.Support;
using DeFeat.Tests.Shared;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Proposals;

public class DecoupledProposalKdLossTests
{
    private static readonly double Ln2 = Math.Log(2);
    private static readonly double Ln3 = Math.Log(3);
    private static readonly double Sqrt2 = Math.Sqrt(2);

    // Hand-computed case: R = 4 proposals, K + 1 = 3 columns, background = last column (2), one ignored row.
    //   row 0, label 0 (object):     t = [0, 0, 0]  -> q = [1/3, 1/3, 1/3];  s = [ln 2, 0, 0] -> p = [1/2, 1/4, 1/4]
    //   row 1, label 2 (background): t = [0, 0, 0]  -> q uniform;            s = [0, 0, ln 2] -> p = [1/4, 1/4, 1/2]
    //   row 2, label 1 (object):     t = [ln 2, 0, 0] -> q = [1/2, 1/4, 1/4]; s = [0, 0, 0]   -> p uniform
    //   row 3, label -1 (ignored):   t = [5, 0, 0], s = [0, 0, 5] -- a large KL that must not count anywhere.
    private static readonly double[][] HandStudent = [[Ln2, 0, 0], [0, 0, Ln2], [0, 0, 0], [0, 0, 5]];
    private static readonly double[][] HandTeacher = [[0, 0, 0], [0, 0, 0], [Ln2, 0, 0], [5, 0, 0]];
    private static readonly long[] HandLabels = [0, 2, 1, -1];

    [Fact]
    public void Hand_computed_case_at_temperature_1()
    {
        // KL(row 0) = ln(1/3) − (1/3)(ln(1/2) + 2 ln(1/4)) = (5/3) ln 2 − ln 3 ≈ 0.0566330123; row 1 likewise (permuted).
        // KL(row 2) = (1/2) ln(1/2) + 2 (1/4) ln(1/4) − ln(1/3) = ln 3 − (3/2) ln 2 ≈ 0.0588915178.
        // Object     = β_obj · (KL0 + KL2) / 2 · 1² = 2 · ((5/3 − 3/2) ln 2) / 2 = ln 2 / 6 ≈ 0.1155245301.
        // Background = β_bg · KL1 / 1 · 1² = 2 ((5/3) ln 2 − ln 3) ≈ 0.1132660245.
        var expectedObject = Ln2 / 6;
        var expectedBackground = 2 * (5.0 / 3 * Ln2 - Ln3);
        expectedObject.Should().BeApproximately(0.1155245301, 1e-9);
        expectedBackground.Should().BeApproximately(0.1132660245, 1e-9);

        var result = Compute(new DecoupledProposalKdLoss(), HandStudent, HandTeacher, HandLabels);

        result.Object.Should().BeApproximately(expectedObject, 1e-6);
        result.Background.Should().BeApproximately(expectedBackground, 1e-6);
        result.Total.Should().BeApproximately(expectedObject + expectedBackground, 1e-6);
    }

    [Fact]
    public void Hand_computed_case_at_temperature_2()
    {
        // At T = 2 the logits are halved: e^(ln 2 / 2) = √2.
        // row 0: q uniform, p = [√2, 1, 1] / (2 + √2):
        //   KL0 = −ln 3 − (1/3)(ln √2 − 3 ln(2 + √2)) = ln(2 + √2) − ln 3 − (1/6) ln 2 ≈ 0.0138103585; KL1 = KL0.
        // row 2: q = [√2, 1, 1] / (2 + √2), p uniform:
        //   KL2 = (√2 / (2 + √2)) (1/2) ln 2 − ln(2 + √2) + ln 3 ≈ 0.0142205928.
        // Object     = 2 · (KL0 + KL2) / 2 · 2² ≈ 0.1121238054;  Background = 2 · KL1 · 2² ≈ 0.1104828683.
        var kl0 = Math.Log(2 + Sqrt2) - Ln3 - Ln2 / 6;
        var kl2 = Sqrt2 / (2 + Sqrt2) * 0.5 * Ln2 - Math.Log(2 + Sqrt2) + Ln3;
        var expectedObject = 2 * (kl0 + kl2) / 2 * 4;
        var expectedBackground = 2 * kl0 * 4;
        expectedObject.Should().BeApproximately(0.1121238054, 1e-9);
        expectedBackground.Should().BeApproximately(0.1104828683, 1e-9);

        var options = new DecoupledProposalKdLossOptions { ObjectTemperature = 2, BackgroundTemperature = 2 };
        var result = Compute(new DecoupledProposalKdLoss(options), HandStudent, HandTeacher, HandLabels);

        result.Object.Should().BeApproximately(expectedObject, 1e-6);
        result.Background.Should().BeApproximately(expectedBackground, 1e-6);
        result.Total.Should().BeApproximately(expectedObject + expectedBackground, 1e-6);
    }

    [Fact]
    public void Background_temperature_is_honoured_separately_from_the_object_temperature()
    {
        // Object at T = 1 (ln 2 / 6), background at T = 2 (2 · KL1(T=2) · 4) -- the official code would use T_obj for both.
        var options = new DecoupledProposalKdLossOptions { ObjectTemperature = 1, BackgroundTemperature = 2 };
        var result = Compute(new DecoupledProposalKdLoss(options), HandStudent, HandTeacher, HandLabels);

        result.Object.Should().BeApproximately(Ln2 / 6, 1e-6);
        result.Background.Should().BeApproximately(2 * (Math.Log(2 + Sqrt2) - Ln3 - Ln2 / 6) * 4, 1e-6);
    }

    [Fact]
    public void Default_options_follow_the_official_config()
    {
        var options = new DecoupledProposalKdLoss().Options;

        options.ObjectWeight.Should().Be(2);
        options.BackgroundWeight.Should().Be(2);
        options.ObjectTemperature.Should().Be(1);
        options.BackgroundTemperature.Should().Be(1);
        options.BackgroundIndex.Should().BeNull();
        options.ValidateLabels.Should().BeNull("unset: checked on the CPU, not on a GPU");
    }

    [Theory]
    [InlineData(1, null, 2.0, 2.0, 1.0, 1.0)]
    [InlineData(2, 0, 1.5, 3.0, 2.0, 0.5)]
    [InlineData(3, 3, 0.25, 4.0, 4.0, 1.5)]
    public void Matches_the_naive_oracle_on_random_logits(int seed, int? backgroundIndex, double objectWeight, double backgroundWeight, double objectTemperature, double backgroundTemperature)
    {
        const int rows = 64, columns = 6;
        var random = new Random(seed);
        var student = RandomLogits(random, rows, columns);
        var teacher = RandomLogits(random, rows, columns);
        var labels = Enumerable.Range(0, rows).Select(_ => (long)random.Next(-1, columns)).ToArray();
        var background = backgroundIndex ?? columns - 1;
        labels.Should().Contain(-1).And.Contain(background).And.Contain(l => l >= 0 && l != background);
        var options = new DecoupledProposalKdLossOptions
        {
            BackgroundIndex = backgroundIndex,
            ObjectWeight = objectWeight,
            BackgroundWeight = backgroundWeight,
            ObjectTemperature = objectTemperature,
            BackgroundTemperature = backgroundTemperature,
        };

        var expected = NaiveProposalKdOracle.Compute(student, teacher, labels, background, objectWeight, backgroundWeight, objectTemperature, backgroundTemperature);
        var actual = Compute(new DecoupledProposalKdLoss(options), student, teacher, labels);

        actual.Object.Should().BeApproximately(expected.Object, 1e-5 * Math.Abs(expected.Object));
        actual.Background.Should().BeApproximately(expected.Background, 1e-5 * Math.Abs(expected.Background));
        actual.Total.Should().BeApproximately(expected.Object + expected.Background, 1e-5 * (expected.Object + expected.Background));
    }

    [Fact]
    public void Batch_without_background_rows_counts_every_labelled_row_as_object_and_gives_a_zero_background_term()
    {
        // The official `labels.max()` trick would take class 3 (the largest label here) for background.
        var random = new Random(7);
        var student = RandomLogits(random, 6, 5);
        var teacher = RandomLogits(random, 6, 5);
        long[] labels = [0, 3, 1, -1, 3, 2];
        var expected = NaiveProposalKdOracle.Compute(student, teacher, labels, 4, 2, 2, 1, 1);
        expected.Background.Should().Be(0);

        using var scope = torch.NewDisposeScope();
        var studentTensor = ToTensor(student, ScalarType.Float32, requiresGrad: true);
        var result = new DecoupledProposalKdLoss().call(studentTensor, ToTensor(teacher, ScalarType.Float32), torch.tensor(labels));

        result.Object.ToDouble().Should().BeApproximately(expected.Object, 1e-5 * expected.Object);
        result.Background.ToDouble().Should().Be(0);
        result.Total.ToDouble().Should().BeApproximately(expected.Object, 1e-5 * expected.Object);
        AssertFiniteGradientPath(result, studentTensor);
    }

    [Fact]
    public void Batch_without_positive_rows_gives_a_zero_object_term()
    {
        var random = new Random(8);
        var student = RandomLogits(random, 5, 4);
        var teacher = RandomLogits(random, 5, 4);
        long[] labels = [3, -1, 3, 3, -1];
        var expected = NaiveProposalKdOracle.Compute(student, teacher, labels, 3, 2, 2, 1, 1);
        expected.Object.Should().Be(0);

        using var scope = torch.NewDisposeScope();
        var studentTensor = ToTensor(student, ScalarType.Float32, requiresGrad: true);
        var result = new DecoupledProposalKdLoss().call(studentTensor, ToTensor(teacher, ScalarType.Float32), torch.tensor(labels));

        result.Object.ToDouble().Should().Be(0);
        result.Background.ToDouble().Should().BeApproximately(expected.Background, 1e-5 * expected.Background);
        AssertFiniteGradientPath(result, studentTensor);
    }

    [Fact]
    public void All_ignored_rows_give_zero_terms_with_a_gradient_path()
    {
        using var scope = torch.NewDisposeScope();
        var student = torch.randn(4, 3, requires_grad: true);
        var result = new DecoupledProposalKdLoss().call(student, torch.randn(4, 3), torch.full(4, -1L));

        result.Object.ToDouble().Should().Be(0);
        result.Background.ToDouble().Should().Be(0);
        result.Total.ToDouble().Should().Be(0);
        AssertFiniteGradientPath(result, student);
        student.grad!.abs().max().ToDouble().Should().Be(0);
    }

    [Fact]
    public void Zero_proposals_give_zero_terms_with_a_gradient_path()
    {
        using var scope = torch.NewDisposeScope();
        var student = torch.zeros(0, 5, requires_grad: true);
        var result = new DecoupledProposalKdLoss().call(student, torch.zeros(0, 5), torch.zeros(0, dtype: ScalarType.Int64));

        result.Object.ToDouble().Should().Be(0);
        result.Background.ToDouble().Should().Be(0);
        result.Total.ToDouble().Should().Be(0);
        AssertFiniteGradientPath(result, student);
    }

    [Fact]
    public void Results_are_0_D_float32_tensors_on_the_logits_device()
    {
        using var scope = torch.NewDisposeScope();
        var result = new DecoupledProposalKdLoss().call(torch.randn(4, 3), torch.randn(4, 3), torch.tensor(new long[] { 0, 1, 2, -1 }));

        foreach (var term in new[] { result.Object, result.Background, result.Total })
        {
            term.dim().Should().Be(0);
            term.dtype.Should().Be(ScalarType.Float32);
            term.device_type.Should().Be(DeviceType.CPU);
        }
    }

    [Fact]
    public void Classes_ruled_out_by_the_teacher_give_0_not_NaN()
    {
        // Column 1 is -inf for both networks (q = p = 0 there): the row is the 2-class KL of softmax([0, 1]) vs softmax([0, 2]).
        // Row 1 is ignored and has an infinite KL (the student rules out a class the teacher keeps): it must not leak in.
        using var scope = torch.NewDisposeScope();
        var inf = double.PositiveInfinity;
        var student = torch.tensor(new double[] { 0, -inf, 2, 0, -inf, 0 }, [2, 3], ScalarType.Float32).requires_grad_();
        var teacher = torch.tensor(new double[] { 0, -inf, 1, 0, 0, 0 }, [2, 3], ScalarType.Float32);
        var result = new DecoupledProposalKdLoss().call(student, teacher, torch.tensor(new long[] { 0, -1 }));

        var q1 = Math.E / (1 + Math.E);
        var p1 = Math.Exp(2) / (1 + Math.Exp(2));
        var twoClassKl = (1 - q1) * Math.Log((1 - q1) / (1 - p1)) + q1 * Math.Log(q1 / p1);
        result.Object.ToDouble().Should().BeApproximately(2 * twoClassKl, 1e-6);
        result.Background.ToDouble().Should().Be(0);
        AssertFiniteGradientPath(result, student);
    }

    [Fact]
    public void Gradient_matches_finite_differences_in_float64_and_the_teacher_gets_none()
    {
        const int rows = 6, columns = 4;
        var random = new Random(11);
        var studentValues = RandomLogits(random, rows, columns);
        var teacherValues = RandomLogits(random, rows, columns);
        long[] labels = [0, 3, -1, 2, 3, 1];
        var loss = new DecoupledProposalKdLoss(new DecoupledProposalKdLossOptions
        {
            ObjectWeight = 1.5, BackgroundWeight = 3, ObjectTemperature = 2, BackgroundTemperature = 0.5,
        });

        using var scope = torch.NewDisposeScope();
        var labelTensor = torch.tensor(labels);
        var student = ToTensor(studentValues, ScalarType.Float64, requiresGrad: true);
        var teacher = ToTensor(teacherValues, ScalarType.Float64, requiresGrad: true);
        var result = loss.call(student, teacher, labelTensor);
        result.Total.dtype.Should().Be(ScalarType.Float64);
        result.Total.backward();
        var analytic = student.grad!.data<double>().ToArray();
        teacher.grad.Should().BeNull();

        const double step = 1e-6;
        for (var row = 0; row < rows; row++)
        {
            for (var column = 0; column < columns; column++)
            {
                var original = studentValues[row][column];
                studentValues[row][column] = original + step;
                var plus = TotalWithoutGrad(loss, studentValues, teacherValues, labelTensor);
                studentValues[row][column] = original - step;
                var minus = TotalWithoutGrad(loss, studentValues, teacherValues, labelTensor);
                studentValues[row][column] = original;

                var numeric = (plus - minus) / (2 * step);
                analytic[row * columns + column].Should().BeApproximately(numeric, 1e-7, $"d Total / d s[{row}, {column}]");
            }
        }

        // Ignored row 2 gets exactly no gradient.
        analytic.Skip(2 * columns).Take(columns).Should().AllSatisfy(g => g.Should().Be(0));
    }

    [Theory]
    [InlineData(ScalarType.Float16, 2e-3)]
    [InlineData(ScalarType.BFloat16, 2e-2)]
    public void Half_precision_inputs_are_computed_in_float32_close_to_the_float32_result(ScalarType halfType, double relativeTolerance)
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(5);
        var student = torch.randn(32, 5) * 2;
        var teacher = torch.randn(32, 5) * 2;
        var labels = torch.randint(-1, 5, [32], dtype: ScalarType.Int64);
        var loss = new DecoupledProposalKdLoss();
        var reference = loss.call(student, teacher, labels);

        var halfStudent = student.to_type(halfType).requires_grad_();
        var result = loss.call(halfStudent, teacher.to_type(halfType), labels);
        var mixed = loss.call(student, teacher.to_type(halfType), labels);

        result.Total.dtype.Should().Be(ScalarType.Float32);
        result.Object.ToDouble().Should().BeApproximately(reference.Object.ToDouble(), relativeTolerance * reference.Object.ToDouble());
        result.Background.ToDouble().Should().BeApproximately(reference.Background.ToDouble(), relativeTolerance * reference.Background.ToDouble());
        mixed.Total.dtype.Should().Be(ScalarType.Float32);
        mixed.Total.ToDouble().Should().BeApproximately(reference.Total.ToDouble(), relativeTolerance * reference.Total.ToDouble());
        result.Total.backward();
        halfStudent.grad!.dtype.Should().Be(halfType);
        halfStudent.grad!.isfinite().all().ToBoolean().Should().BeTrue();
    }

    [CudaFact]
    public void Runs_on_cuda_and_matches_the_cpu_result()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(3);
        var student = torch.randn(16, 4);
        var teacher = torch.randn(16, 4);
        var labels = torch.randint(-1, 4, [16], dtype: ScalarType.Int64);
        var loss = new DecoupledProposalKdLoss();
        var cpu = loss.call(student, teacher, labels);

        var cudaStudent = student.cuda().requires_grad_();
        var cuda = loss.call(cudaStudent, teacher.cuda(), labels.cuda());
        cuda.Total.backward();

        cuda.Total.device_type.Should().Be(DeviceType.CUDA);
        cuda.Object.cpu().ToDouble().Should().BeApproximately(cpu.Object.ToDouble(), 1e-5);
        cuda.Background.cpu().ToDouble().Should().BeApproximately(cpu.Background.ToDouble(), 1e-5);
        cudaStudent.grad!.device_type.Should().Be(DeviceType.CUDA);
    }

    [Fact]
    public void Forward_hands_out_only_its_three_results_and_a_2000_step_loop_keeps_live_tensors_flat()
    {
        var loss = new DecoupledProposalKdLoss(new DecoupledProposalKdLossOptions { BackgroundTemperature = 2 });
        using var student = torch.randn(8, 5).requires_grad_();
        using var teacher = torch.randn(8, 5);
        using var labels = torch.tensor(new long[] { 0, 4, 1, -1, 4, 2, 3, 4 });

        void Step()
        {
            using var step = torch.NewDisposeScope();
            var result = loss.call(student, teacher, labels);
            result.Total.backward();
            TrainingChecks.LossesShouldBeFinite("of a step", [("object", result.Object), ("background", result.Background), ("total", result.Total)]);
        }

        var statistics = DisposeScopeManager.Statistics;
        using (torch.NewDisposeScope())
        {
            var beforeForward = statistics.ThreadTotalLiveCount;
            loss.call(student, teacher, labels);
            (statistics.ThreadTotalLiveCount - beforeForward).Should().Be(3, "only Object, Background and Total leave forward");
        }

        for (var i = 0; i < 10; i++)
        {
            Step();
        }

        var before = statistics.ThreadTotalLiveCount;
        for (var i = 0; i < 2000; i++)
        {
            Step();
        }

        statistics.ThreadTotalLiveCount.Should().Be(before);
        TrainingChecks.GradientsShouldBeFinite("after the steps", [("student", student)]);
    }

    private static (double Object, double Background, double Total) Compute(DecoupledProposalKdLoss loss, double[][] student, double[][] teacher, long[] labels)
    {
        using var scope = torch.NewDisposeScope();
        var result = loss.call(ToTensor(student, ScalarType.Float32), ToTensor(teacher, ScalarType.Float32), torch.tensor(labels));
        return (result.Object.ToDouble(), result.Background.ToDouble(), result.Total.ToDouble());
    }

    private static double TotalWithoutGrad(DecoupledProposalKdLoss loss, double[][] student, double[][] teacher, Tensor labels)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        return loss.call(ToTensor(student, ScalarType.Float64), ToTensor(teacher, ScalarType.Float64), labels).Total.ToDouble();
    }

    private static void AssertFiniteGradientPath(DecoupledLoss result, Tensor student)
    {
        result.Object.requires_grad.Should().BeTrue();
        result.Background.requires_grad.Should().BeTrue();
        result.Total.isfinite().ToBoolean().Should().BeTrue();
        result.Total.backward();
        student.grad.Should().NotBeNull();
        student.grad!.isfinite().all().ToBoolean().Should().BeTrue();
    }

    private static Tensor ToTensor(double[][] rows, ScalarType dtype, bool requiresGrad = false)
    {
        var columns = rows.Length == 0 ? 0 : rows[0].Length;
        // requires_grad is set after the dtype conversion, so the returned tensor is a leaf that receives .grad.
        return torch.tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, columns], dtype).requires_grad_(requiresGrad);
    }

    private static double[][] RandomLogits(Random random, int rows, int columns)
        => Enumerable.Range(0, rows)
            .Select(_ => Enumerable.Range(0, columns).Select(_ => 3 * NormalSample(random)).ToArray())
            .ToArray();

    private static double NormalSample(Random random)
        => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
