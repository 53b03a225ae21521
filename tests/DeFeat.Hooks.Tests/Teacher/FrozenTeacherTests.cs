using DeFeat.Hooks.Teacher;
using DeFeat.Hooks.Tests.Toys;
using DeFeat.Tests.Shared;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Teacher;

public class FrozenTeacherTests
{
    public static TheoryData<string> Toys => new() { "two-stage", "one-stage" };

    private static nn.Module<Tensor, Tensor> Toy(string kind, long width, long seed)
        => kind == "two-stage" ? new TwoStageToy(width, seed) : new OneStageToy(width);

    [Theory]
    [MemberData(nameof(Toys))]
    public void The_teacher_is_frozen_in_eval_and_its_outputs_are_detached(string kind)
    {
        using var scope = torch.NewDisposeScope();
        using var model = Toy(kind, 4, 1);

        var teacher = new FrozenTeacher(model);
        var output = teacher.Run(() => model.call(torch.randn(2, 3, 16, 16)));

        model.parameters().Should().OnlyContain(parameter => !parameter.requires_grad);
        model.modules().Should().OnlyContain(module => !module.training);
        output.requires_grad.Should().BeFalse();
        torch.is_grad_enabled().Should().BeTrue("no_grad is only in force during Run");
    }

    [Theory]
    [MemberData(nameof(Toys))]
    public void Teacher_BatchNorm_stays_in_eval_and_gets_no_gradient_across_a_student_train_step(string kind)
    {
        using var scope = torch.NewDisposeScope();
        using var pair = new TeacherStudentPair(Toy(kind, 4, 1), Toy(kind, 4, 2));
        var teacher = new FrozenTeacher(pair.Teacher);
        var norm = pair.Teacher.modules().OfType<TorchSharp.Modules.BatchNorm2d>().Single();
        var studentNorm = pair.Student.modules().OfType<TorchSharp.Modules.BatchNorm2d>().Single();
        var meanBefore = norm.running_mean!.clone();
        var varianceBefore = norm.running_var!.clone();
        var studentMeanBefore = studentNorm.running_mean!.clone();

        pair.train();
        var images = torch.randn(2, 3, 16, 16) * 3 + 1;
        var teacherOutput = teacher.Run(() => pair.Teacher.call(images));
        var studentLoss = pair.Student.call(images);
        (studentLoss + teacherOutput).backward();

        norm.training.Should().BeFalse();
        pair.Student.training.Should().BeTrue("the student's mode is the user's");
        norm.running_mean!.data<float>().ToArray().Should().Equal(meanBefore.data<float>().ToArray());
        norm.running_var!.data<float>().ToArray().Should().Equal(varianceBefore.data<float>().ToArray());
        studentNorm.running_mean!.data<float>().ToArray().Should().NotEqual(studentMeanBefore.data<float>().ToArray(), "the student's BatchNorm did train");
        pair.Teacher.parameters().Where(parameter => parameter.grad is not null).Should().BeEmpty();
        TrainingChecks.LossesShouldBeFinite("of the student train step", [("student", studentLoss), ("teacher output", teacherOutput)]);
        TrainingChecks.GradientsShouldBeFinite("after the student train step", pair.Student.named_parameters());
    }

    private sealed class TeacherStudentPair : nn.Module
    {
        private readonly nn.Module<Tensor, Tensor> teacher;
        private readonly nn.Module<Tensor, Tensor> student;

        public TeacherStudentPair(nn.Module<Tensor, Tensor> teacher, nn.Module<Tensor, Tensor> student)
            : base(nameof(TeacherStudentPair))
        {
            (this.teacher, this.student) = (teacher, student);
            RegisterComponents();
        }

        public nn.Module<Tensor, Tensor> Teacher => teacher;

        public nn.Module<Tensor, Tensor> Student => student;
    }
}
