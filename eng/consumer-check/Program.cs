// A user's training loop, built against the DeFeat packages from a local feed (see eng/consumer-check.sh):
// a tiny two-stage teacher and student, DeFeat attached from the outside with DeFeat.Hooks, 5 SGD steps.
using DeFeat.Hooks.Terms;
using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.RoiHeads;
using TorchSharp;
using static TorchSharp.torch;

torch.manual_seed(7);
using var teacher = new TinyDetector(width: 16);
using var student = new TinyDetector(width: 8);
using var distiller = DeFeatRecipe.Create(teacher, student, new DeFeatRecipeOptions
{
    TeacherNeckPath = "neck",
    StudentNeckPath = "neck",
    TeacherChannels = [16, 16],
    StudentChannels = [8, 8],
    ProposalKd = new ProposalKdTermOptions
    {
        TeacherHeadPath = "head",
        StudentHeadPath = "head",
        Arguments = new RoiHeadArgumentPositions(roisArgument: 1, labelsArgument: 2),
    },
});
var optimizer = torch.optim.SGD(student.parameters().Concat(distiller.parameters()), 0.05);

var images = torch.rand(2, 3, 32, 32);
Tensor[] gtBoxes = [torch.tensor(new float[] { 4, 4, 20, 24 }).reshape(1, 4), torch.tensor(new float[] { 10, 2, 30, 14, 1, 16, 9, 31 }).reshape(2, 4)];
var gtLabels = new[] { torch.tensor(new long[] { 0 }), torch.tensor(new long[] { 2, 1 }) };

var totals = new List<double>();
for (var step = 0; step < 5; step++)
{
    using var scope = torch.NewDisposeScope();
    distiller.Teacher.Run(() => teacher.call(images, gtBoxes, gtLabels));
    var detectionLoss = student.call(images, gtBoxes, gtLabels);
    var kd = distiller.call(gtBoxes, new ImageSize(32, 32));
    var loss = detectionLoss + kd.Total;
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();

    var values = kd.ToDictionary().ToDictionary(pair => pair.Key, pair => pair.Value.item<float>());
    totals.Add(loss.item<float>());
    Console.WriteLine($"step {step}: loss {totals[^1]:F4}  " + string.Join("  ", values.Select(pair => $"{pair.Key} {pair.Value:F4}")));
    if (values.Values.Any(value => !float.IsFinite(value)) || !double.IsFinite(totals[^1]))
    {
        Console.WriteLine("consumer check: FAILED (a loss is not finite)");
        return 1;
    }
}

if (totals.Max() > 10 * totals[0] + 1)
{
    Console.WriteLine($"consumer check: FAILED (losses grew from {totals[0]:F4} to {totals.Max():F4})");
    return 1;
}

Console.WriteLine($"consumer check: OK (5 steps, loss {totals[0]:F4} -> {totals[^1]:F4})");
return 0;

/// <summary>A two-level neck: [B, 3, H, W] → features at strides 2 and 4.</summary>
internal sealed class TinyNeck : nn.Module<Tensor, Tensor[]>
{
    private readonly nn.Module<Tensor, Tensor> stem;
    private readonly nn.Module<Tensor, Tensor> down;

    public TinyNeck(long width) : base(nameof(TinyNeck))
    {
        stem = nn.Conv2d(3, width, 3, stride: 2, padding: 1);
        down = nn.Conv2d(width, width, 3, stride: 2, padding: 1);
        RegisterComponents();
    }

    public override Tensor[] forward(Tensor images)
    {
        var p1 = nn.functional.relu(stem.call(images));
        return [p1, nn.functional.relu(down.call(p1))];
    }
}

/// <summary>An RoI head: pooled level-0 features of each RoI's image plus its box → [R, K+1] class logits.</summary>
internal sealed class TinyRoiHead : nn.Module<Tensor[], Tensor, Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> classifier;

    public TinyRoiHead(long width, long classes) : base(nameof(TinyRoiHead))
    {
        classifier = nn.Linear(width + 4, classes + 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor[] features, Tensor rois, Tensor labels)
    {
        var pooled = features[0].mean([2, 3]).index_select(0, rois.select(1, 0).to(ScalarType.Int64));
        return classifier.call(torch.cat([pooled, rois[.., 1..] / 32.0], 1));
    }
}

/// <summary>
/// A tiny two-stage detector: neck → a sampler (GT boxes, jittered, as positives; random boxes as background) →
/// RoI head; the forward returns the classification loss on the sampled RoIs.
/// </summary>
internal sealed class TinyDetector : nn.Module<Tensor, Tensor[], Tensor[], Tensor>
{
    private const long Classes = 3;
    private readonly TinyNeck neck;
    private readonly TinyRoiHead head;

    public TinyDetector(long width) : base(nameof(TinyDetector))
    {
        neck = new TinyNeck(width);
        head = new TinyRoiHead(width, Classes);
        RegisterComponents();
    }

    public override Tensor forward(Tensor images, Tensor[] gtBoxes, Tensor[] gtLabels)
    {
        var features = neck.call(images);
        var (rois, labels) = Sample(gtBoxes, gtLabels);
        var logits = head.call(features, rois, labels);
        return nn.functional.cross_entropy(logits, labels);
    }

    private static (Tensor Rois, Tensor Labels) Sample(Tensor[] gtBoxes, Tensor[] gtLabels)
    {
        var rois = new List<Tensor>();
        var labels = new List<Tensor>();
        for (var image = 0; image < gtBoxes.Length; image++)
        {
            var count = gtBoxes[image].shape[0];
            var jittered = gtBoxes[image] + torch.randn(count, 4);
            var corner = torch.rand(4, 2) * 24;
            var background = torch.cat([corner, corner + 6], 1);
            var boxes = torch.cat([jittered, background]);
            rois.Add(torch.cat([torch.full(boxes.shape[0], 1, (float)image), boxes], 1));
            labels.Add(torch.cat([gtLabels[image], torch.full(4, Classes, ScalarType.Int64)]));
        }

        return (torch.cat(rois), torch.cat(labels));
    }
}
