using DeFeat.Losses;
using DeFeat.Losses.Adaptation;
using DeFeat.Losses.Features;
using DeFeat.Losses.Masks;
using DeFeat.Losses.Proposals;
using FasterRcnnDistillation.Data;
using FasterRcnnDistillation.Model;
using FasterRcnnDistillation.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Distillation;

/// <summary>
/// DeFeat for this detector: the frozen teacher (eval mode, no gradient) runs on the same batch; the student's
/// P2..P6, through per-level 3×3 adaptation convs, imitate the teacher's P2..P6 separately inside and outside the GT
/// object masks (DeFeat level rule), and — with proposal KD — the student's RoI head, re-run on the RoIs the teacher
/// sampled, imitates the teacher's class distribution separately on positive and background RoIs.
/// Loss names: neck_object, neck_background, proposal_object, proposal_background.
/// </summary>
public sealed class DeFeatObjective : IDistillationObjective, IDisposable
{
    private readonly FasterRcnn teacher;
    private readonly DistillationSettings settings;
    private readonly DecoupledFeatureLoss neckLoss;
    private readonly DecoupledProposalKdLoss proposalLoss;
    private readonly DeFeatMaskBuilder masks = new();

    public DeFeatObjective(FasterRcnn teacher, DetectorConfig studentConfig, DistillationSettings settings, Device device)
    {
        this.teacher = teacher;
        this.settings = settings;
        teacher.to(device).eval();
        foreach (var parameter in teacher.parameters())
        {
            parameter.requires_grad = false;
        }

        int levels = DetectorConfig.Strides.Length;
        var adapters = new FeatureAdapters(
            Enumerable.Repeat((long)studentConfig.FpnChannels, levels).ToArray(),
            Enumerable.Repeat((long)teacher.Config.FpnChannels, levels).ToArray());
        neckLoss = new DecoupledFeatureLoss(
            new DecoupledFeatureLossOptions { ObjectWeight = settings.NeckObjectWeight, BackgroundWeight = settings.NeckBackgroundWeight },
            adapters);
        neckLoss.to(device);
        proposalLoss = new DecoupledProposalKdLoss(new DecoupledProposalKdLossOptions
        {
            ObjectWeight = settings.ProposalObjectWeight,
            BackgroundWeight = settings.ProposalBackgroundWeight,
            ValidateLabels = false,
        });
    }

    public IEnumerable<Parameter> Parameters => neckLoss.parameters();

    public IReadOnlyDictionary<string, Tensor> Losses(FasterRcnn student, DetectionBatch batch, TrainingOutput studentOutput)
    {
        Tensor[] teacherFeatures;
        RoiTargets teacherRois;
        Tensor teacherLogits;
        using (no_grad())
        {
            (teacherFeatures, teacherRois, teacherLogits) = teacher.SampleRois(batch);
        }

        var objectMasks = masks.Build(
            batch.Boxes,
            teacherFeatures.Select(f => new FeatureMapSize((int)f.shape[2], (int)f.shape[3])).ToArray(),
            DetectorConfig.Strides.Select(s => (double)s).ToArray());
        var neck = neckLoss.call(studentOutput.Features, teacherFeatures, objectMasks);
        var result = new Dictionary<string, Tensor>
        {
            ["neck_object"] = neck.Object,
            ["neck_background"] = neck.Background,
        };
        if (settings.ProposalKd)
        {
            var studentLogits = student.RoiHead.call(studentOutput.Features, teacherRois.Rois).Logits;
            var proposal = proposalLoss.call(studentLogits, teacherLogits, teacherRois.Labels);
            result["proposal_object"] = proposal.Object;
            result["proposal_background"] = proposal.Background;
        }

        return result;
    }

    public void Dispose()
    {
        neckLoss.Dispose();
        proposalLoss.Dispose();
    }
}
