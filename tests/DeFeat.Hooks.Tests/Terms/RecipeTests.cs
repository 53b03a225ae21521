using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.RoiHeads;
using DeFeat.Hooks.Terms;
using DeFeat.Hooks.Tests.Support;
using DeFeat.Hooks.Tests.Toys;
using DeFeat.Hooks.Tests.Toys.MlNetStyle;
using DeFeat.Losses.Adaptation;
using DeFeat.Losses.Dense;
using DeFeat.Losses.Features;
using DeFeat.Losses.Masks;
using DeFeat.Tests.Shared;
using TorchSharp;
using static DeFeat.Hooks.Tests.Support.NaiveTerms;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Terms;

/// <summary>
/// The recipes built from terms (the authors' COCO recipe: backbone stages + neck + proposal KD; the one-stage recipe:
/// neck + dense-head KD) on the toys, against the formulas written out a second, naive way.
/// </summary>
public class RecipeTests
{
    private static readonly float[][,] ToyBoxes = [new float[,] { { 1, 2, 9, 11 }, { 4, 4, 6, 7 } }, new float[0, 4]];

    private static readonly float[][,] RetinaBoxes = [new float[,] { { 2, 2, 14, 18 }, { 16, 8, 31, 30 } }, new float[,] { { 4, 4, 28, 28 } }];

    private static Tensor[] Tensors(float[][,] boxes) => [.. boxes.Select(image => image.GetLength(0) == 0 ? torch.zeros(0, 4) : torch.tensor(image))];

    /// <summary>The COCO recipe on the two-stage toy: backbone stages (own adapters, the backbone mask rule), neck, proposal KD.</summary>
    private static DistillationTerm[] CocoRecipe(double step = 0) =>
    [
        new FeatureTerm(new()
        {
            Name = "backbone", TeacherPath = "backbone", StudentPath = "backbone", Levels = [0, 1],
            Loss = new DecoupledFeatureTermLoss(new DecoupledFeatureLossOptions { ObjectWeight = 2, BackgroundWeight = 5 }),
            MaskBuilder = new BackboneMaskBuilder { GridStride = 2 }, StudentChannels = [4, 8], TeacherChannels = [8, 16],
        }),
        new FeatureTerm(new()
        {
            Name = "neck", TeacherPath = "neck", StudentPath = "neck", Loss = new DecoupledFeatureTermLoss(),
            MaskBuilder = new DeFeatMaskBuilder { CanonicalSize = 4 }, StudentChannels = [8, 8], TeacherChannels = [16, 16],
        }),
        new ProposalKdTerm(new() { TeacherHeadPath = "roi_head", StudentHeadPath = "roi_head", Arguments = new RoiHeadArgumentPositions(1, 2) }),
    ];

    [Fact]
    public void The_coco_recipe_gives_each_term_its_formula()
    {
        using var scope = torch.NewDisposeScope();
        using var teacher = new TwoStageToy(8, seed: 1);
        using var student = new TwoStageToy(4, seed: 2);
        using var distiller = new Distiller(teacher, student, CocoRecipe());
        var images = torch.randn(2, 3, 16, 16, generator: new Generator(3));

        distiller.Teacher.Run(() => teacher.call(images));
        student.call(images);
        var kd = distiller.call(Tensors(ToyBoxes), new ImageSize(16, 16));

        // Backbone: one mask of all boxes on the stride-2 grid (8×8), resized (nearest) to the stages (8×8, 4×4).
        var grid = Mask(ToyBoxes, 8, 8, 2.0, _ => true);
        var stageMasks = new[] { grid, grid.Select(mask => Nearest(mask, 4, 4)).ToArray() };
        using var noGrad = torch.no_grad();
        var teacherStages = teacher.Backbone.forward(images);
        var backboneAdapters = ((FeatureTerm)distiller.Terms[0]).Adapters!;
        var studentStages = student.Backbone.forward(images).Select((stage, level) => backboneAdapters[level].call(stage)).ToArray();
        var backbone = FeatureLoss(studentStages, teacherStages, stageMasks, 2, 5);

        // Neck: each box on its level (c = 4: the 8×9 box → level 1, the 2×3 box → level 0), strides 2 and 4.
        var neckMasks = new[] { 0, 1 }.Select(level => Mask(ToyBoxes, 8 >> level, 8 >> level, 2 << level, box => Level(box, 2, 4) == level)).ToArray();
        var neckAdapters = ((FeatureTerm)distiller.Terms[1]).Adapters!;
        var neck = FeatureLoss(
            student.Neck.LastOutput.Select((level, index) => neckAdapters[index].call(level)).ToArray(), teacher.Neck.LastOutput, neckMasks, 4, 16);

        kd.Parts.Select(part => part.Name).Should().Equal(
            "backbone_object", "backbone_background", "neck_object", "neck_background", "proposal_object", "proposal_background");
        Value(kd["backbone_object"]).Should().BeApproximately(backbone.Object, 1e-5 * backbone.Object);
        Value(kd["backbone_background"]).Should().BeApproximately(backbone.Background, 1e-5 * backbone.Background);
        Value(kd["neck_object"]).Should().BeApproximately(neck.Object, 1e-5 * neck.Object);
        Value(kd["neck_background"]).Should().BeApproximately(neck.Background, 1e-5 * neck.Background);
        backbone.Object.Should().BeGreaterThan(0);
        neck.ObjectByLevel.Should().OnlyContain(share => share > 0);
        Value(kd.Total).Should().BeApproximately(kd.Parts.Sum(part => Value(part.Value)), 1e-5);

        kd.Levels.Select(level => level.Name).Should().Equal(
            "backbone_object[0]", "backbone_object[1]", "backbone_background[0]", "backbone_background[1]",
            "neck_object[0]", "neck_object[1]", "neck_background[0]", "neck_background[1]");
        Value(kd.Levels[4].Value).Should().BeApproximately(neck.ObjectByLevel[0], 1e-5 * neck.ObjectByLevel[0]);
        Value(kd.Levels[7].Value).Should().BeApproximately(neck.BackgroundByLevel[1], 1e-5 * neck.BackgroundByLevel[1]);
        kd.ToDictionary().Keys.Should().Equal(kd.Parts.Select(part => part.Name));
        distiller.parameters().Should().HaveCount(8, "two adaptation convs (weight, bias) per feature term");
    }

    [Fact]
    public void Selected_backbone_stages_are_named_by_their_position_and_get_the_stage_masks()
    {
        using var scope = torch.NewDisposeScope();
        using var teacher = new TwoStageToy(8, seed: 1);
        using var student = new TwoStageToy(4, seed: 2);
        using var distiller = new Distiller(teacher, student,
        [
            new FeatureTerm(new()
            {
                Name = "backbone", TeacherPath = "backbone", StudentPath = "backbone", Levels = [1],
                Loss = new DecoupledFeatureTermLoss(DecoupledFeatureLossOptions.Voc), MaskBuilder = new BackboneMaskBuilder(),
                StudentChannels = [8], TeacherChannels = [16],
            }),
        ]);
        var images = torch.randn(2, 3, 16, 16, generator: new Generator(4));
        distiller.Teacher.Run(() => teacher.call(images));
        student.call(images);
        var kd = distiller.call(Tensors(ToyBoxes), new ImageSize(16, 16));

        // Stage 1 is 4×4 at stride 4: the grid of stride 4 is 4×4 too, so the mask is the grid itself.
        using var noGrad = torch.no_grad();
        var adapters = ((FeatureTerm)distiller.Terms[0]).Adapters!;
        var expected = FeatureLoss(
            [adapters[0].call(student.Backbone.forward(images)[1])], [teacher.Backbone.forward(images)[1]], [Mask(ToyBoxes, 4, 4, 4.0, _ => true)], 3, 12);
        kd.Levels.Select(level => level.Name).Should().Equal("backbone_object[1]", "backbone_background[1]");
        Value(kd["backbone_object"]).Should().BeApproximately(expected.Object, 1e-5 * expected.Object);
        Value(kd["backbone_background"]).Should().BeApproximately(expected.Background, 1e-5 * expected.Background);
    }

    [Fact]
    public void The_one_stage_recipe_distils_the_dense_head_scores()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(11);
        using var teacher = new MlNetStyleRetinaNet(8);
        using var student = new MlNetStyleRetinaNet(4);
        var loss = new DecoupledDenseKdLossOptions { Classes = 3, AnchorsPerLocation = 3, Activation = DenseKdActivation.Sigmoid, ObjectWeight = 2, BackgroundWeight = 0.5 };
        using var distiller = new Distiller(teacher, student,
        [
            new FeatureTerm(new()
            {
                Name = "neck", TeacherPath = "neck", StudentPath = "neck", Loss = new DecoupledFeatureTermLoss(),
                StudentChannels = [8, 8, 8], TeacherChannels = [16, 16, 16],
            }),
            new DenseHeadKdTerm(new() { TeacherHeadPath = "bbox_head", StudentHeadPath = "bbox_head", Loss = loss, MaskBuilder = new AllLevelsMaskBuilder() }),
        ]);
        var images = torch.randn(2, 3, 32, 32, generator: new Generator(5));

        var teacherScores = distiller.Teacher.Run(() => teacher.forward(images)).ClassScores;
        var studentScores = student.forward(images).ClassScores;
        var kd = distiller.call(Tensors(RetinaBoxes), new ImageSize(32, 32));

        // Every box marks every level (strides 4, 8, 16: maps 8×8, 4×4, 2×2).
        var masks = new[] { 0, 1, 2 }.Select(level => Mask(RetinaBoxes, 8 >> level, 8 >> level, 4 << level, _ => true)).ToArray();
        var expected = SigmoidDenseKd(studentScores, teacherScores, masks, 3, 3, 2, 0.5);
        kd.Parts.Select(part => part.Name).Should().Equal("neck_object", "neck_background", "dense_object", "dense_background");
        Value(kd["dense_object"]).Should().BeApproximately(expected.Object, 1e-5 * expected.Object);
        Value(kd["dense_background"]).Should().BeApproximately(expected.Background, 1e-5 * expected.Background);
        kd.Levels.Where(level => level.Name.StartsWith("dense_object[", StringComparison.Ordinal)).Sum(level => Value(level.Value))
            .Should().BeApproximately(expected.Object, 1e-5 * expected.Object);
        TrainingChecks.LossesShouldBeFinite("one-stage recipe", [.. kd.Parts.Select(part => (part.Name, part.Value))]);
    }

    [Fact]
    public void The_one_stage_toy_shares_its_head_conv_over_the_levels_and_every_call_is_recorded()
    {
        using var scope = torch.NewDisposeScope();
        using var teacher = new OneStageToy(4);
        using var student = new OneStageToy(4);
        using var distiller = new Distiller(teacher, student,
        [
            new DenseHeadKdTerm(new()
            {
                TeacherHeadPath = "cls_head", StudentHeadPath = "cls_head", RecordEveryCall = true, MaskBuilder = new AllLevelsMaskBuilder(),
                Loss = new DecoupledDenseKdLossOptions { Classes = 3, Activation = DenseKdActivation.Sigmoid, ObjectWeight = 1, BackgroundWeight = 1 },
            }),
        ]);
        var images = torch.randn(2, 3, 16, 16, generator: new Generator(6));
        distiller.Teacher.Run(() => teacher.call(images));
        student.call(images);
        var kd = distiller.call(Tensors(ToyBoxes), new ImageSize(16, 16));

        using var noGrad = torch.no_grad();
        var scores = (OneStageToy model) =>
        {
            var (p1, p2) = model.Neck.LastOutput;
            var head = (TorchSharp.Modules.Conv2d)model.named_modules().Single(entry => entry.name == "cls_head").module;
            return new[] { head.forward(p1), head.forward(p2) };
        };
        var masks = new[] { 0, 1 }.Select(level => Mask(ToyBoxes, 8 >> level, 8 >> level, 2 << level, _ => true)).ToArray();
        var expected = SigmoidDenseKd(scores(student), scores(teacher), masks, 1, 3, 1, 1);
        kd.Levels.Select(level => level.Name).Should().Equal("dense_object[0]", "dense_object[1]", "dense_background[0]", "dense_background[1]");
        Value(kd["dense_object"]).Should().BeApproximately(expected.Object, 1e-5 * expected.Object);
        Value(kd["dense_background"]).Should().BeApproximately(expected.Background, 1e-5 * expected.Background);
    }

    [Fact]
    public void The_preset_is_the_neck_and_proposal_terms_and_reproduces_them_exactly()
    {
        using var scope = torch.NewDisposeScope();
        var images = torch.randn(2, 3, 16, 16, generator: new Generator(8));
        // Both runs start from the same weights by copying states, not by reseeding the global generator: tests that run
        // in parallel draw from it too.
        Dictionary<string, Tensor> Snapshot(nn.Module module) => module.state_dict().ToDictionary(pair => pair.Key, pair => pair.Value.clone());
        using var teacherWeights = new TwoStageToy(8, seed: 1);
        using var studentWeights = new TwoStageToy(4, seed: 2);
        var (teacherState, studentState) = (Snapshot(teacherWeights), Snapshot(studentWeights));
        Dictionary<string, Tensor>? adapterState = null;
        var run = (Func<TwoStageToy, TwoStageToy, Distiller> create) =>
        {
            using var teacher = new TwoStageToy(8, seed: 1);
            using var student = new TwoStageToy(4, seed: 2);
            teacher.load_state_dict(teacherState);
            student.load_state_dict(studentState);
            using var distiller = create(teacher, student);
            if (adapterState is null)
            {
                adapterState = Snapshot(distiller);
            }
            else
            {
                distiller.load_state_dict(adapterState);
            }

            distiller.Teacher.Run(() => teacher.call(images));
            student.call(images);
            return distiller.call(Tensors(ToyBoxes), new ImageSize(16, 16)).Parts.Select(part => (part.Name, Values(part.Value)[0])).ToArray();
        };
        var heads = new ProposalKdTermOptions { TeacherHeadPath = "roi_head", StudentHeadPath = "roi_head", Arguments = new RoiHeadArgumentPositions(1, 2) };

        var preset = run((teacher, student) => DeFeatRecipe.Create(teacher, student, new DeFeatRecipeOptions
        {
            TeacherNeckPath = "neck", StudentNeckPath = "neck", StudentChannels = [8, 8], TeacherChannels = [16, 16], ProposalKd = heads,
        }));
        var terms = run((teacher, student) => new Distiller(teacher, student,
        [
            new FeatureTerm(new() { Name = "neck", TeacherPath = "neck", StudentPath = "neck", Loss = new DecoupledFeatureTermLoss(), StudentChannels = [8, 8], TeacherChannels = [16, 16] }),
            new ProposalKdTerm(heads),
        ]));

        terms.Should().Equal(preset);
    }
}
