using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.Terms;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Balance;

/// <summary>
/// A distiller over two models whose <c>neck</c> returns its inputs unchanged, with one feature term <c>neck</c> whose loss
/// is Σ_l ½·w·‖S_l − T_l‖² (part <c>sq</c>, level shares ½·w·‖S_l − T_l‖²): its gradient at S_l is w·(S_l − T_l), by hand.
/// With <c>linearPart</c> the loss has a second part <c>lin</c> = Σ_l Σ S_l (level shares Σ S_l; gradient 1 everywhere).
/// </summary>
internal sealed class BalanceToy : IDisposable
{
    private readonly PassThroughModel teacher = new();
    private readonly PassThroughModel student = new();

    public BalanceToy(double weight = 1.0, bool linearPart = false)
        => Distiller = new Distiller(teacher, student,
            [new FeatureTerm(new() { Name = "neck", TeacherPath = "neck", StudentPath = "neck", Loss = new HalfSquares(weight, linearPart) })]);

    public Distiller Distiller { get; }

    /// <summary>Runs both models on the given levels and returns the distiller's losses of the step.</summary>
    public DistillationLosses Step(Tensor[] teacherLevels, Tensor[] studentLevels)
    {
        Distiller.Teacher.Run(() => teacher.call(teacherLevels));
        student.call(studentLevels);
        return Distiller.call([], new ImageSize(2, 2));
    }

    public void Dispose()
    {
        Distiller.Dispose();
        teacher.Dispose();
        student.Dispose();
    }

    private sealed class PassThroughModel : nn.Module<Tensor[], Tensor[]>
    {
        private readonly nn.Module<Tensor[], Tensor[]> neck = new PassThrough();

        public PassThroughModel()
            : base(nameof(PassThroughModel)) => RegisterComponents();

        public override Tensor[] forward(Tensor[] input) => neck.call(input);
    }

    private sealed class PassThrough() : nn.Module<Tensor[], Tensor[]>(nameof(PassThrough))
    {
        public override Tensor[] forward(Tensor[] input) => input;
    }

    private sealed class HalfSquares(double weight, bool linearPart) : IFeatureTermLoss
    {
        public bool UsesObjectMasks => false;

        public IReadOnlyList<LossPart> Compute(IReadOnlyList<Tensor> studentFeatures, IReadOnlyList<Tensor> teacherFeatures, IReadOnlyList<Tensor>? objectMasks)
        {
            var levels = studentFeatures.Select((s, l) => (s - teacherFeatures[l]).square().sum() * (0.5 * weight)).ToArray();
            var squares = new LossPart("sq", levels.Aggregate((a, b) => a + b), levels);
            if (!linearPart)
            {
                return [squares];
            }

            var sums = studentFeatures.Select(s => s.sum()).ToArray();
            return [squares, new LossPart("lin", sums.Aggregate((a, b) => a + b), sums)];
        }
    }
}
