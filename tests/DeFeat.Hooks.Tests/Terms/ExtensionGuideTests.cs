using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.Terms;
using DeFeat.Hooks.Tests.Toys;
using DeFeat.Losses.Masks;
using TorchSharp;
using static DeFeat.Hooks.Tests.Support.NaiveTerms;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Terms;

/// <summary>The README's "your own loss" and "your own mask rule", as written there, against naive expectations.</summary>
public class ExtensionGuideTests
{
    private static readonly float[][,] Boxes = [new float[,] { { 1, 2, 9, 11 }, { 4, 4, 6, 7 } }, new float[,] { { 0, 0, 15, 15 } }];

    private static Tensor[] GtBoxes() => [.. Boxes.Select(image => torch.tensor(image))];

    [Fact]
    public void A_loss_of_your_own_plugs_into_a_feature_term()
    {
        using var scope = torch.NewDisposeScope();
        using var teacher = new TwoStageToy(4, seed: 1);
        using var student = new TwoStageToy(4, seed: 2);
        using var distiller = new Distiller(teacher, student,
            [new FeatureTerm(new() { Name = "cosine", TeacherPath = "neck", StudentPath = "neck", Loss = new CosineFeatureLoss() })]);
        var images = torch.randn(2, 3, 16, 16);
        distiller.Teacher.Run(() => teacher.call(images));
        student.call(images);
        var kd = distiller.call(GtBoxes(), new ImageSize(16, 16));

        // Σ_l (1 − mean over (b, h, w) of cos(s_bhw, t_bhw)), cosines over channels written out.
        var expected = 0.0;
        for (var level = 0; level < 2; level++)
        {
            var (s, t) = (student.Neck.LastOutput[level], teacher.Neck.LastOutput[level]);
            var (sv, tv) = (Values(s), Values(t));
            var (batch, channels, cells) = ((int)s.shape[0], (int)s.shape[1], (int)(s.shape[2] * s.shape[3]));
            var cosines = new List<double>();
            for (var b = 0; b < batch; b++)
            {
                for (var i = 0; i < cells; i++)
                {
                    double dot = 0, ss = 0, tt = 0;
                    for (var c = 0; c < channels; c++)
                    {
                        var index = (((b * channels) + c) * cells) + i;
                        (dot, ss, tt) = (dot + (sv[index] * tv[index]), ss + (sv[index] * sv[index]), tt + (tv[index] * tv[index]));
                    }

                    cosines.Add(dot / Math.Max(Math.Sqrt(ss) * Math.Sqrt(tt), 1e-8));
                }
            }

            expected += 1 - cosines.Average();
        }

        kd.Parts.Select(part => part.Name).Should().Equal("cosine");
        Value(kd["cosine"]).Should().BeApproximately(expected, 1e-5);
        kd["cosine"].requires_grad.Should().BeTrue();
    }

    [Fact]
    public void A_mask_rule_of_your_own_reuses_the_level_assignment_and_the_region_painting()
    {
        using var scope = torch.NewDisposeScope();
        var sizes = new[] { new FeatureMapSize(8, 8), new FeatureMapSize(4, 4), new FeatureMapSize(2, 2) };
        var masks = new TwoLevelMaskBuilder().Build(GtBoxes(), sizes, [2.0, 4.0, 8.0]);

        // c = 56: every box here is below 112 px, so level 0; the rule also marks level 1, never level 2.
        for (var level = 0; level < 3; level++)
        {
            var expected = Mask(Boxes, 8 >> level, 8 >> level, 2 << level, box => Level(box, 3, 56) is var own && (own == level || own == level - 1));
            Values(masks[level]).Should().Equal(expected.SelectMany(image => image.Cast<double>()), $"level {level}");
        }

        Values(masks[2]).Should().OnlyContain(value => value == 0);
    }

    /// <summary>The README's example loss: Σ_l (1 − mean cosine similarity over channels).</summary>
    private sealed class CosineFeatureLoss : IFeatureTermLoss
    {
        public bool UsesObjectMasks => false;

        public IReadOnlyList<LossPart> Compute(IReadOnlyList<Tensor> student, IReadOnlyList<Tensor> teacher, IReadOnlyList<Tensor>? masks)
            => [new LossPart("", student.Zip(teacher, (s, t) => 1 - nn.functional.cosine_similarity(s, t.detach(), 1).mean())
                                        .Aggregate((a, b) => a + b))];
    }

    /// <summary>The README's example rule: each box on its own level and on the next coarser one.</summary>
    private sealed class TwoLevelMaskBuilder : ObjectMaskBuilder
    {
        protected override Tensor[] BuildLevelMasks(GroundTruthBatch gt, IReadOnlyList<MaskLevel> levels)
        {
            var level = DeFeatLevelRule.Assign(gt.Boxes, levels.Count);
            return [.. levels.Select((l, i) => BoxCellRegions.Of(gt.Boxes, l).Paint(gt.ImageIndex,
                level.eq(i).logical_or(level.eq(i - 1)).to(ScalarType.Float32), gt.ImageCount, l.Size))];
        }
    }
}
