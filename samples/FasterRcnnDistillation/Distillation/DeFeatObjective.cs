using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.RoiHeads;
using DeFeat.Losses.Features;
using DeFeat.Losses.Masks;
using DeFeat.Losses.Proposals;
using FasterRcnnDistillation.Data;
using FasterRcnnDistillation.Model;
using FasterRcnnDistillation.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Distillation;

/// <summary>
/// DeFeat attached to this detector from the outside, as a user would attach it to theirs: a
/// <see cref="DeFeatDistiller"/> taps the <c>neck</c> of teacher and student (P2..P6) and, with proposal KD, relays
/// the RoIs the teacher sampled into the student's <c>roi_head</c> (argument 1 = rois, argument 2 = labels) and taps
/// both heads' logits (output 0). The teacher runs frozen (eval, no gradient) before the student at every step.
/// Loss names: neck_object, neck_background, proposal_object, proposal_background.
/// </summary>
public sealed class DeFeatObjective : IDistillationObjective, IDisposable
{
    private readonly FasterRcnn teacher;
    private readonly DeFeatDistiller distiller;

    public DeFeatObjective(FasterRcnn teacher, FasterRcnn student, DistillationSettings settings, Device device)
    {
        this.teacher = teacher;
        int levels = DetectorConfig.Strides.Length;
        distiller = new DeFeatDistiller(teacher, student, new DeFeatDistillerOptions
        {
            TeacherNeckPath = "neck",
            StudentNeckPath = "neck",
            StudentChannels = Enumerable.Repeat((long)student.Config.FpnChannels, levels).ToArray(),
            TeacherChannels = Enumerable.Repeat((long)teacher.Config.FpnChannels, levels).ToArray(),
            Strides = DetectorConfig.Strides.Select(s => (double)s).ToArray(),
            MaskBuilder = new DeFeatMaskBuilder { CanonicalSize = settings.MaskCanonicalSize },
            FeatureLoss = new DecoupledFeatureLossOptions
            {
                ObjectWeight = settings.NeckObjectWeight,
                BackgroundWeight = settings.NeckBackgroundWeight,
            },
            ProposalLoss = new DecoupledProposalKdLossOptions
            {
                ObjectWeight = settings.ProposalObjectWeight,
                BackgroundWeight = settings.ProposalBackgroundWeight,
                ValidateLabels = false,
            },
            RoiHeads = settings.ProposalKd
                ? new RoiHeadDistillationOptions
                {
                    TeacherHeadPath = "roi_head",
                    StudentHeadPath = "roi_head",
                    Arguments = new RoiHeadArgumentPositions(roisArgument: 1, labelsArgument: 2),
                    LogitsOutput = 0,
                }
                : null,
        });
        distiller.to(device);
        ProposalKd = settings.ProposalKd;
    }

    /// <summary>Whether the proposal KD is on (the teacher then also samples and classifies RoIs).</summary>
    public bool ProposalKd { get; }

    public IEnumerable<Parameter> Parameters => distiller.parameters();

    public void BeforeStudent(DetectionBatch batch)
    {
        if (ProposalKd)
        {
            distiller.Teacher.Run(() => teacher.SampleAndClassify(batch));
        }
        else
        {
            distiller.Teacher.Run(() => teacher.call(batch.Images));
        }
    }

    public IReadOnlyDictionary<string, Tensor> Losses(DetectionBatch batch)
    {
        var losses = distiller.call(batch.Boxes, new ImageSize((int)batch.Images.shape[2], (int)batch.Images.shape[3]));
        return losses.ToDictionary();
    }

    /// <inheritdoc />
    public IDisposable Suspend() => distiller.Suspend();

    /// <summary>Saves the distiller's state: its adaptation layers and its step (TorchSharp <c>save</c> format).</summary>
    public void Save(string path) => distiller.save(path);

    /// <summary>Restores what <see cref="Save"/> wrote: the adaptation layers and the step.</summary>
    public void Load(string path) => distiller.load(path);

    /// <summary>Detaches the distiller (its hooks and adaptation layers) from both detectors.</summary>
    public void Dispose() => distiller.Dispose();
}
