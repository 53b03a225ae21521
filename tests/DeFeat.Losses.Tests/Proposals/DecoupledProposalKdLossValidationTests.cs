using DeFeat.Losses.Proposals;
using DeFeat.Losses.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Proposals;

public class DecoupledProposalKdLossValidationTests
{
    private static readonly long[] ValidLabels = [0, 2, -1];

    [Fact]
    public void Student_logits_that_are_not_2_D_are_rejected()
        => Forward(torch.randn(3, 3, 1), torch.randn(3, 3), torch.tensor(ValidLabels))
            .Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "studentLogits")
            .WithMessage("*[R, K+1] (2-D)*got shape [3, 3, 1]*");

    [Fact]
    public void Teacher_logits_that_are_not_2_D_are_rejected()
        => Forward(torch.randn(3, 3), torch.randn(9), torch.tensor(ValidLabels))
            .Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "teacherLogits")
            .WithMessage("*[R, K+1] (2-D)*got shape [9]*");

    [Fact]
    public void Student_and_teacher_shape_mismatch_is_rejected()
        => Forward(torch.randn(3, 3), torch.randn(3, 4), torch.tensor(ValidLabels))
            .Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "teacherLogits")
            .WithMessage("*shape [3, 3]*got [3, 4]*");

    [Fact]
    public void Fewer_than_2_columns_are_rejected()
        => Forward(torch.randn(3, 1), torch.randn(3, 1), torch.tensor(new long[] { 0, 0, -1 }))
            .Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "studentLogits")
            .WithMessage("*at least 2 columns*got shape [3, 1]*");

    [Fact]
    public void Labels_that_are_not_1_D_are_rejected()
        => Forward(torch.randn(3, 3), torch.randn(3, 3), torch.zeros(3, 1, dtype: ScalarType.Int64))
            .Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "labels")
            .WithMessage("*[R] (1-D)*got shape [3, 1]*");

    [Fact]
    public void Labels_of_the_wrong_length_are_rejected()
        => Forward(torch.randn(3, 3), torch.randn(3, 3), torch.tensor(new long[] { 0, 1, 2, 0 }))
            .Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "labels")
            .WithMessage("*shape [3]*got [4]*");

    [Fact]
    public void Labels_that_are_not_int64_are_rejected()
        => Forward(torch.randn(3, 3), torch.randn(3, 3), torch.tensor(new int[] { 0, 2, -1 }))
            .Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "labels")
            .WithMessage("*dtype Int64*got Int32*");

    [Theory]
    [InlineData(-2L, "[-2, 2]")]
    [InlineData(3L, "[-1, 3]")]
    public void Labels_outside_minus_1_to_K_are_rejected(long badLabel, string reportedRange)
        => Forward(torch.randn(3, 3), torch.randn(3, 3), torch.tensor(new long[] { badLabel, 2, -1 }))
            .Should().Throw<ArgumentOutOfRangeException>()
            .Where(e => e.ParamName == "labels")
            .WithMessage($"*-1 (ignore) or a class index in [0, K] = [0, 2]*got values in {reportedRange}*");

    [Fact]
    public void Label_range_check_can_be_switched_off()
    {
        var options = new DecoupledProposalKdLossOptions { ValidateLabels = false };

        Forward(torch.randn(3, 3), torch.randn(3, 3), torch.tensor(new long[] { -5, 2, -1 }), options)
            .Should().NotThrow();
    }

    [CudaFact]
    public void Label_range_on_cuda_is_checked_only_when_asked()
    {
        using var scope = torch.NewDisposeScope();
        var student = torch.randn(3, 3).cuda();
        var teacher = torch.randn(3, 3).cuda();
        var labels = torch.tensor(new long[] { -5, 2, -1 }).cuda();

        Forward(student, teacher, labels).Should().NotThrow();
        Forward(student, teacher, labels, new DecoupledProposalKdLossOptions { ValidateLabels = true })
            .Should().Throw<ArgumentOutOfRangeException>()
            .Where(e => e.ParamName == "labels");
    }

    [Fact]
    public void Background_index_beyond_K_is_rejected()
        => Forward(torch.randn(3, 3), torch.randn(3, 3), torch.tensor(ValidLabels), new DecoupledProposalKdLossOptions { BackgroundIndex = 3 })
            .Should().Throw<ArgumentOutOfRangeException>()
            .Where(e => e.ParamName == "BackgroundIndex")
            .WithMessage("*[0, K] = [0, 2]*shape [3, 3]*got 3*");

    [Fact]
    public void Tensors_on_different_devices_are_rejected()
    {
        var meta = torch.device("meta");

        Forward(torch.randn(3, 3), torch.randn(3, 3, device: meta), torch.tensor(ValidLabels))
            .Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "teacherLogits")
            .WithMessage("*device cpu*got meta*");
        Forward(torch.randn(3, 3), torch.randn(3, 3), torch.zeros(3, dtype: ScalarType.Int64, device: meta))
            .Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "labels")
            .WithMessage("*device cpu*got meta*");
    }

    [Fact]
    public void Non_floating_logits_are_rejected()
    {
        Forward(torch.zeros(3, 3, dtype: ScalarType.Int64), torch.randn(3, 3), torch.tensor(ValidLabels))
            .Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "studentLogits")
            .WithMessage("*floating-point*got dtype Int64*");
        Forward(torch.randn(3, 3), torch.zeros(3, 3, dtype: ScalarType.Int32), torch.tensor(ValidLabels))
            .Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "teacherLogits")
            .WithMessage("*floating-point*got dtype Int32*");
    }

    [Fact]
    public void Null_inputs_are_rejected()
    {
        var loss = new DecoupledProposalKdLoss();

        loss.Invoking(l => l.forward(null!, torch.randn(3, 3), torch.tensor(ValidLabels)))
            .Should().Throw<ArgumentNullException>().Where(e => e.ParamName == "studentLogits");
        loss.Invoking(l => l.forward(torch.randn(3, 3), null!, torch.tensor(ValidLabels)))
            .Should().Throw<ArgumentNullException>().Where(e => e.ParamName == "teacherLogits");
        loss.Invoking(l => l.forward(torch.randn(3, 3), torch.randn(3, 3), null!))
            .Should().Throw<ArgumentNullException>().Where(e => e.ParamName == "labels");
    }

    [Fact]
    public void Invalid_options_are_rejected()
    {
        FluentActions.Invoking(() => new DecoupledProposalKdLossOptions { ObjectWeight = -1 })
            .Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "ObjectWeight");
        FluentActions.Invoking(() => new DecoupledProposalKdLossOptions { BackgroundWeight = double.NaN })
            .Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "BackgroundWeight");
        FluentActions.Invoking(() => new DecoupledProposalKdLossOptions { ObjectTemperature = 0 })
            .Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "ObjectTemperature");
        FluentActions.Invoking(() => new DecoupledProposalKdLossOptions { BackgroundTemperature = -2 })
            .Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "BackgroundTemperature");
        FluentActions.Invoking(() => new DecoupledProposalKdLossOptions { BackgroundIndex = -1 })
            .Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "BackgroundIndex");
    }

    private static Action Forward(Tensor student, Tensor teacher, Tensor labels, DecoupledProposalKdLossOptions? options = null)
        => () =>
        {
            using var scope = torch.NewDisposeScope();
            new DecoupledProposalKdLoss(options).call(student, teacher, labels);
        };
}
