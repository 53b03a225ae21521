using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.Terms;
using DeFeat.Hooks.Tests.Toys;
using TorchSharp;
using static DeFeat.Hooks.Tests.Support.NaiveTerms;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Terms;

/// <summary>docs/custom-term.md's term of your own, as written there, against the formula written out with loops.</summary>
public partial class CustomTermGuideTests
{
    [Fact]
    public void The_guides_attention_term_gives_the_attention_transfer_loss_without_an_image_size()
    {
        using var scope = torch.NewDisposeScope();
        using var teacher = new TwoStageToy(8, seed: 1);
        using var student = new TwoStageToy(4, seed: 2);
        using var distiller = new Distiller(teacher, student, [new AttentionTerm(new() { TeacherPath = "neck", StudentPath = "neck" })]);
        var images = torch.randn(2, 3, 16, 16);
        distiller.Teacher.Run(() => teacher.call(images));
        student.call(images);
        var kd = distiller.call([torch.zeros(0, 4), torch.zeros(0, 4)]);

        // Per level: a[b, h, w] = (1/C) Σ_c x², then mean over (b, h, w) of (a_s − a_t)²; summed over the levels.
        var byLevel = new double[2];
        for (var level = 0; level < 2; level++)
        {
            var (s, t) = (student.Neck.LastOutput[level], teacher.Neck.LastOutput[level]);
            var (sv, tv) = (Values(s), Values(t));
            var (batch, cells) = ((int)s.shape[0], (int)(s.shape[2] * s.shape[3]));
            var (studentChannels, teacherChannels) = ((int)s.shape[1], (int)t.shape[1]);
            var sum = 0.0;
            for (var b = 0; b < batch; b++)
            {
                for (var i = 0; i < cells; i++)
                {
                    var studentAttention = Enumerable.Range(0, studentChannels).Average(c => Math.Pow(sv[(((b * studentChannels) + c) * cells) + i], 2));
                    var teacherAttention = Enumerable.Range(0, teacherChannels).Average(c => Math.Pow(tv[(((b * teacherChannels) + c) * cells) + i], 2));
                    sum += Math.Pow(studentAttention - teacherAttention, 2);
                }
            }

            byLevel[level] = sum / (batch * cells);
        }

        kd.Parts.Select(part => part.Name).Should().Equal("attention");
        Value(kd["attention"]).Should().BeApproximately(byLevel.Sum(), 1e-5);
        kd.LevelsByPart["attention"].Select(level => level.Name).Should().Equal("attention[0]", "attention[1]");
        kd.LevelsByPart["attention"].Select(level => Value(level.Value)).Should().Equal(byLevel, (actual, expected) => Math.Abs(actual - expected) < 1e-5);
        kd["attention"].requires_grad.Should().BeTrue();
        kd.StudentInputs["attention"].Should().HaveCount(2);
        distiller.Step.Should().Be(1);
    }

    [Fact]
    public void The_guide_shows_the_terms_code_exactly_as_this_test_compiles_it()
    {
        var guide = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "custom-term.md"));
        var code = CodeBlock().Match(guide).Groups[1].Value;
        var source = File.ReadAllText(ThisFile());

        code.Should().Contain("class AttentionTerm : DistillationTerm");
        Normalised(source).Should().Contain(Normalised(code));
    }

    private static string Normalised(string text) => Regex.Replace(text, @"\s+", " ").Trim();

    private static string ThisFile([CallerFilePath] string path = "") => path;

    private static string RepositoryRoot() => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(ThisFile())!, "..", "..", ".."));

    [GeneratedRegex(@"```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CodeBlock();
}

public sealed record AttentionTermOptions : DistillationTermOptions
{
    public override string Name { get; init; } = "attention";
    public required string TeacherPath { get; init; }
    public required string StudentPath { get; init; }
}

public sealed class AttentionTerm : DistillationTerm
{
    public AttentionTerm(AttentionTermOptions options)
        : base(options, options.TeacherPath, options.StudentPath)
    {
    }

    protected override void Compute(TermStep step, TermLosses losses)
    {
        var student = Taps.Student.Features;   // [B, C_s, H_l, W_l] per level, with gradient
        var teacher = Taps.Teacher.Features;   // [B, C_t, H_l, W_l] per level, without gradient
        var levels = student.Zip(teacher, (s, t) => nn.functional.mse_loss(Attention(s), Attention(t))).ToArray();
        losses.SetStudentInputs(student);
        losses.Add(new LossPart("", torch.stack(levels).sum(), levels));
    }

    private static Tensor Attention(Tensor features) => (features * features).mean([1]);   // [B, H_l, W_l]
}
