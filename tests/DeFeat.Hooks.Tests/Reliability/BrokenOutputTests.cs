using DeFeat.Hooks.Balance;
using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.Recording;
using DeFeat.Hooks.RoiHeads;
using DeFeat.Hooks.Terms;
using DeFeat.Hooks.Tests.Toys;
using DeFeat.Losses.Masks;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Reliability;

/// <summary>
/// A tapped module, a selector, an RoI-head argument map, a term's loss or a mask rule (all user code) that returns null,
/// a null tensor or a disposed tensor is named where it happens (path or callback, position), instead of surfacing as a
/// <see cref="NullReferenceException"/> or TorchSharp's "empty handle" somewhere later.
/// </summary>
public sealed class BrokenOutputTests : IDisposable
{
    private readonly DisposeScope scope = torch.NewDisposeScope();

    public void Dispose() => scope.Dispose();

    public enum Broken
    {
        NullInList,
        DisposedInList,
        NullInTuple,
    }

    [Theory]
    [InlineData(Broken.NullInList, "Tensor[] holding 2 tensor(s), and tensor 1 is null")]
    [InlineData(Broken.DisposedInList, "Tensor[] holding 2 tensor(s), and tensor 1 is a disposed tensor*")]
    [InlineData(Broken.NullInTuple, "(Tensor, Tensor) holding 2 tensor(s), and tensor 1 is null")]
    public void A_tapped_output_holding_a_null_or_disposed_tensor_is_named_by_path_and_position(Broken broken, string what)
    {
        using var model = new BrokenNeckToy(broken);
        using var tap = new FeatureTap(model, "neck");

        var run = () => model.call(torch.ones(2, 4, 8, 8));

        run.Should().Throw<InvalidOperationException>().WithMessage($"The submodule at path 'neck' returned {what}; a feature tap needs a live tensor at every position.");
        tap.HasCapture.Should().BeFalse("nothing of the broken output was recorded");
    }

    [Fact]
    public void Through_a_distiller_the_message_names_the_option_and_the_model()
    {
        using var teacher = new BrokenNeckToy(Broken.NullInList);
        using var student = new BrokenNeckToy(Broken.NullInList);
        using var distiller = DeFeatRecipe.Create(teacher, student, new DeFeatRecipeOptions { TeacherNeckPath = "neck", StudentNeckPath = "neck" });

        var run = () => distiller.Teacher.Run(() => teacher.call(torch.ones(2, 4, 8, 8)));

        run.Should().Throw<InvalidOperationException>().WithMessage("The submodule at options.TeacherNeckPath 'neck' (teacher) returned Tensor[]*tensor 1 is null*");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_selector_returning_a_null_or_disposed_tensor_is_named_by_position(bool disposed)
    {
        using var model = new TwoStageToy(4, seed: 1);
        using var tap = new FeatureTap(model, "roi_head", selector: output =>
        {
            var logits = (((Tensor, Tensor))output).Item1;
            if (!disposed)
            {
                return [logits, null!];
            }

            var gone = logits.clone();
            gone.Dispose();
            return [logits, gone];
        });

        var run = () => model.call(torch.randn(2, 3, 16, 16));

        run.Should().Throw<InvalidOperationException>().WithMessage(
            $"The selector given for path 'roi_head' returned 2 tensor(s) for its output ((Tensor, Tensor)), and tensor 1 is {(disposed ? "a disposed tensor" : "null")}*");
    }

    public enum BadRead
    {
        Null,
        NullRois,
        DisposedLabels,
    }

    [Theory]
    [InlineData(BadRead.Null, "BrokenOutputTests.BrokenMap.Read returned null for the RoI head at source.HeadPath 'roi_head'*")]
    [InlineData(BadRead.NullRois, "BrokenOutputTests.BrokenMap.Read returned proposals whose Rois is null for the RoI head at source.HeadPath 'roi_head'*")]
    [InlineData(BadRead.DisposedLabels, "BrokenOutputTests.BrokenMap.Read returned proposals whose Labels is a disposed tensor*source.HeadPath 'roi_head'*")]
    public void An_argument_map_reading_null_or_disposed_proposals_is_named(BadRead bad, string message)
    {
        using var teacher = new TwoStageToy(4, seed: 1);
        using var student = new TwoStageToy(4, seed: 2);
        var good = new RoiHeadArgumentPositions(1, 2);
        using var relay = new ProposalRelay(new RoiHeadEndpoint(teacher, "roi_head", new BrokenMap(good, bad)), new RoiHeadEndpoint(student, "roi_head", good));

        var run = () => teacher.call(torch.randn(2, 3, 16, 16));

        run.Should().Throw<InvalidOperationException>().WithMessage(message);
        relay.HasProposals.Should().BeFalse();
    }

    [Fact]
    public void An_argument_map_replacing_an_argument_with_null_is_named_by_position()
    {
        using var teacher = new TwoStageToy(4, seed: 1);
        using var student = new TwoStageToy(4, seed: 2);
        var good = new RoiHeadArgumentPositions(1, 2);
        using var relay = new ProposalRelay(new RoiHeadEndpoint(teacher, "roi_head", good), new RoiHeadEndpoint(student, "roi_head", new DroppingMap(good)));
        var images = torch.randn(2, 3, 16, 16);
        teacher.call(images);

        var run = () => student.call(images);

        run.Should().Throw<InvalidOperationException>().WithMessage(
            "DroppingMap.Replace returned null as argument 0 for the RoI head at target.HeadPath 'roi_head', which was given Tensor[] there*");
        relay.Delivered.Should().BeFalse();
    }

    public enum BadLoss
    {
        NullList,
        NoPart,
        NullPart,
        ShortLevels,
    }

    [Theory]
    [InlineData(BadLoss.NullList, "BrokenOutputTests.BrokenLoss.Compute returned null for the term 'neck'*at least one LossPart*")]
    [InlineData(BadLoss.NoPart, "BrokenOutputTests.BrokenLoss.Compute returned no part for the term 'neck'*")]
    [InlineData(BadLoss.NullPart, "BrokenOutputTests.BrokenLoss.Compute returned 2 part(s) for the term 'neck' and part 1 is null*")]
    [InlineData(BadLoss.ShortLevels, "BrokenOutputTests.BrokenLoss.Compute returned the part 'sum' of the term 'neck' with 1 level share(s) for 2 level(s)*")]
    public void A_term_loss_returning_null_no_part_a_null_part_or_wrong_level_shares_is_named(BadLoss bad, string message)
    {
        using var teacher = new TwoStageToy(4, seed: 1);
        using var student = new TwoStageToy(4, seed: 2);
        using var distiller = new Distiller(teacher, student, [new FeatureTerm(new() { Name = "neck", TeacherPath = "neck", StudentPath = "neck", Loss = new BrokenLoss(bad) })]);
        var images = torch.randn(2, 3, 16, 16);
        distiller.Teacher.Run(() => teacher.call(images));
        student.call(images);

        var call = () => distiller.call([torch.zeros(0, 4), torch.zeros(0, 4)], new ImageSize(16, 16));

        call.Should().Throw<InvalidOperationException>().WithMessage(message);
        distiller.Step.Should().Be(0);
    }

    [Fact]
    public void A_loss_part_with_a_null_level_share_is_refused_by_name()
    {
        var create = () => new LossPart("object", torch.zeros([]), [torch.zeros([]), null!]);

        create.Should().Throw<ArgumentNullException>().WithParameterName("byLevel[1]");
    }

    [Theory]
    [InlineData(false, "ShortMaskBuilder.BuildLevelMasks returned 1 mask(s) for 2 level(s)*")]
    [InlineData(true, "ShortMaskBuilder.BuildLevelMasks returned 2 mask(s) and mask 1 is null*")]
    public void A_mask_rule_returning_too_few_or_null_masks_is_named(bool nullMask, string message)
    {
        using var teacher = new TwoStageToy(4, seed: 1);
        using var student = new TwoStageToy(4, seed: 2);
        using var distiller = DeFeatRecipe.Create(teacher, student, new DeFeatRecipeOptions
        {
            TeacherNeckPath = "neck",
            StudentNeckPath = "neck",
            MaskBuilder = new ShortMaskBuilder(nullMask),
        });
        var images = torch.randn(2, 3, 16, 16);
        distiller.Teacher.Run(() => teacher.call(images));
        student.call(images);

        var call = () => distiller.call([torch.zeros(0, 4), torch.zeros(0, 4)], new ImageSize(16, 16));

        call.Should().Throw<InvalidOperationException>().WithMessage(message);
    }

    [Fact]
    public void Losses_kept_past_their_steps_scope_are_named_by_the_balancer_and_the_gradient_report()
    {
        using var teacher = new TwoStageToy(8, seed: 1);
        using var student = new TwoStageToy(4, seed: 2);
        using var distiller = DeFeatRecipe.Create(teacher, student, new DeFeatRecipeOptions
        {
            TeacherNeckPath = "neck",
            StudentNeckPath = "neck",
            StudentChannels = [8, 8],
            TeacherChannels = [16, 16],
        });
        using var balancer = new DistillationBalancer(new Dictionary<string, int> { ["neck"] = 2 });
        DistillationLosses losses;
        using (torch.NewDisposeScope())
        {
            var images = torch.randn(2, 3, 16, 16);
            distiller.Teacher.Run(() => teacher.call(images));
            student.call(images);
            losses = distiller.call([torch.zeros(0, 4), torch.zeros(0, 4)], new ImageSize(16, 16));
        }

        var balance = () => balancer.call(losses, torch.ones([]));
        var report = () => GradientBalance.Measure(losses, torch.ones([]));

        balance.Should().Throw<ObjectDisposedException>().WithMessage("losses.Total is a disposed tensor*dispose scope*");
        report.Should().Throw<ObjectDisposedException>().WithMessage("losses.Total is a disposed tensor*");
        balancer.Step.Should().Be(0);
    }

    /// <summary>A model whose neck returns a list with a null or disposed second tensor, or a tuple with a null second item.</summary>
    private sealed class BrokenNeckToy : nn.Module<Tensor, Tensor>
    {
#pragma warning disable IDE1006 // field names are the module paths
        private readonly nn.Module<Tensor, Tensor[]>? neck;
        private readonly nn.Module<Tensor, (Tensor, Tensor)>? tupleNeck;
#pragma warning restore IDE1006

        public BrokenNeckToy(Broken broken)
            : base(nameof(BrokenNeckToy))
        {
            if (broken == Broken.NullInTuple)
            {
                tupleNeck = new TupleNeck();
                register_module("neck", tupleNeck);
            }
            else
            {
                neck = new ListNeck(broken == Broken.DisposedInList);
                register_module("neck", neck);
            }
        }

        public override Tensor forward(Tensor input)
            => neck is not null ? neck.call(input)[0].sum() : tupleNeck!.call(input).Item1.sum();
    }

    private sealed class ListNeck(bool disposed) : nn.Module<Tensor, Tensor[]>(nameof(ListNeck))
    {
        public override Tensor[] forward(Tensor input)
        {
            if (!disposed)
            {
                return [input.mul(2), null!];
            }

            var gone = input.mul(3);
            gone.Dispose();
            return [input.mul(2), gone];
        }
    }

    private sealed class TupleNeck() : nn.Module<Tensor, (Tensor, Tensor)>(nameof(TupleNeck))
    {
        public override (Tensor, Tensor) forward(Tensor input) => (input.mul(2), null!);
    }

    private sealed class BrokenMap(IRoiHeadArgumentMap inner, BadRead bad) : IRoiHeadArgumentMap
    {
        public SampledProposals Read(IReadOnlyList<object?> arguments)
        {
            var read = inner.Read(arguments);
            switch (bad)
            {
                case BadRead.Null:
                    return null!;
                case BadRead.NullRois:
                    return new SampledProposals(null!, read.Labels);
                default:
                    var labels = read.Labels.clone();
                    labels.Dispose();
                    return new SampledProposals(read.Rois, labels);
            }
        }

        public object?[] Replace(IReadOnlyList<object?> arguments, SampledProposals proposals) => inner.Replace(arguments, proposals);
    }

    private sealed class DroppingMap(IRoiHeadArgumentMap inner) : IRoiHeadArgumentMap
    {
        public SampledProposals Read(IReadOnlyList<object?> arguments) => inner.Read(arguments);

        public object?[] Replace(IReadOnlyList<object?> arguments, SampledProposals proposals)
        {
            var replaced = inner.Replace(arguments, proposals);
            replaced[0] = null;
            return replaced;
        }
    }

    private sealed class BrokenLoss(BadLoss bad) : IFeatureTermLoss
    {
        public bool UsesObjectMasks => false;

        public IReadOnlyList<LossPart> Compute(IReadOnlyList<Tensor> studentFeatures, IReadOnlyList<Tensor> teacherFeatures, IReadOnlyList<Tensor>? objectMasks)
        {
            var levels = studentFeatures.Select(feature => feature.mean()).ToArray();
            var sum = levels[0].add(levels[1]);
            return bad switch
            {
                BadLoss.NullList => null!,
                BadLoss.NoPart => [],
                BadLoss.NullPart => [new LossPart("sum", sum), null!],
                _ => [new LossPart("sum", sum, [levels[0]])],
            };
        }
    }

    private sealed class ShortMaskBuilder(bool nullMask) : ObjectMaskBuilder
    {
        protected override Tensor[] BuildLevelMasks(GroundTruthBatch groundTruth, IReadOnlyList<MaskLevel> levels)
        {
            var first = torch.zeros(groundTruth.BoxCounts.Count, levels[0].Size.Height, levels[0].Size.Width);
            return nullMask ? [first, null!] : [first];
        }
    }
}
