using System.Globalization;
using DeFeat.Hooks.Balance;
using DeFeat.Hooks.Distillation;
using DeFeat.Hooks.Recording;
using DeFeat.Hooks.RoiHeads;
using DeFeat.Hooks.Terms;
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
/// <see cref="Distiller"/> taps the <c>neck</c> of teacher and student (P2..P6) and, with proposal KD, relays
/// the RoIs the teacher sampled into the student's <c>roi_head</c> (argument 1 = rois, argument 2 = labels) and taps
/// both heads' logits (output 0). The teacher runs frozen (eval, no gradient) before the student at every step.
/// Loss names: neck_object, neck_background, proposal_object, proposal_background. With
/// <see cref="DistillationOptions.BalanceRatio"/> a <see cref="DistillationBalancer"/> scales each term (logged as
/// <c>kd_scale_{term}</c>); with <see cref="DistillationOptions.DiagnosticsFile"/> every
/// <see cref="DistillationOptions.DiagnoseEvery"/> steps the <see cref="GradientBalance"/> report (at the neck and at the
/// student's last backbone stage) and the teacher's neck energy in object and background cells are appended to a CSV.
/// </summary>
public sealed class DeFeatObjective : IDistillationObjective, IDisposable
{
    private readonly FasterRcnn teacher;
    private readonly Distiller distiller;
    private readonly DistillationBalancer? balancer;
    private readonly DistillationOptions options;
    private readonly FeatureTap? studentBackbone;
    private readonly FeatureTap? teacherNeck;
    private readonly DeFeatMaskBuilder maskBuilder;
    private int step;
    private bool warned;

    public DeFeatObjective(FasterRcnn teacher, FasterRcnn student, DistillationOptions options, Device device)
    {
        this.teacher = teacher;
        int levels = DetectorConfig.Strides.Length;
        distiller = DeFeatRecipe.Create(teacher, student, new DeFeatRecipeOptions
        {
            TeacherNeckPath = "neck",
            StudentNeckPath = "neck",
            StudentChannels = Enumerable.Repeat((long)student.Config.FpnChannels, levels).ToArray(),
            TeacherChannels = Enumerable.Repeat((long)teacher.Config.FpnChannels, levels).ToArray(),
            Strides = DetectorConfig.Strides.Select(s => (double)s).ToArray(),
            MaskBuilder = new DeFeatMaskBuilder { CanonicalSize = options.MaskCanonicalSize },
            Schedule = options.Schedule,
            FeatureLoss = new DecoupledFeatureLossOptions
            {
                ObjectWeight = options.NeckObjectWeight,
                BackgroundWeight = options.NeckBackgroundWeight,
            },
            ProposalKd = options.ProposalKd
                ? new ProposalKdTermOptions
                {
                    TeacherHeadPath = "roi_head",
                    StudentHeadPath = "roi_head",
                    Arguments = new RoiHeadArgumentPositions(roisArgument: 1, labelsArgument: 2),
                    LogitsOutput = 0,
                    Loss = new DecoupledProposalKdLossOptions
                    {
                        ObjectWeight = options.ProposalObjectWeight,
                        BackgroundWeight = options.ProposalBackgroundWeight,
                        ValidateLabels = false,
                    },
                }
                : null,
        });
        distiller.to(device);
        ProposalKd = options.ProposalKd;
        this.options = options;
        maskBuilder = new DeFeatMaskBuilder { CanonicalSize = options.MaskCanonicalSize };
        if (options.BalanceRatio is { } ratio)
        {
            var levelsByTerm = new Dictionary<string, int> { [DeFeatRecipe.NeckTermName] = levels };
            if (options.ProposalKd)
            {
                levelsByTerm[DeFeatRecipe.ProposalTermName] = 1;
            }

            balancer = new DistillationBalancer(levelsByTerm, new DistillationBalancerOptions
            {
                TargetRatio = ratio,
                PerLevel = options.BalancePerLevel,
                Parts = options.BalanceBackgroundOnly ? [DecoupledFeatureTermLoss.BackgroundPart] : null,
            });
            balancer.to(device);
        }

        if (options.DiagnosticsFile is { } file)
        {
            studentBackbone = new FeatureTap(student, "backbone");
            teacherNeck = new FeatureTap(teacher, "neck");
            File.WriteAllText(file, "step,site,term,loss,level,kd_norm,task_norm,ratio,cosine" + Environment.NewLine);
        }
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
            distiller.Teacher.Run(() => teacher.call(TeacherImages(batch)));
        }

        if (options.ReferenceTeacher is { } bare)
        {
            // The same forward on a copy the library never touched: what the teacher's part would cost bare.
            using var reference = StepProfile.Reference("bare teacher inference");
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            _ = ProposalKd ? bare.SampleAndClassify(batch) : bare.call(TeacherImages(batch))[0];
        }
    }

    private Tensor TeacherImages(DetectionBatch batch) => options.TeacherBfloat16 ? batch.Images.to(ScalarType.BFloat16) : batch.Images;

    public DistillationStep Losses(DetectionBatch batch, Tensor taskLoss)
    {
        var losses = distiller.call(batch.Boxes, new ImageSize((int)batch.Images.shape[2], (int)batch.Images.shape[3]));
        if (options.DiagnosticsFile is { } file && step % options.DiagnoseEvery == 0)
        {
            Diagnose(file, losses, taskLoss, batch);
        }

        studentBackbone?.Clear();
        teacherNeck?.Clear();
        step++;
        var logged = new Dictionary<string, Tensor>();
        if (balancer is null)
        {
            return new DistillationStep(losses.ToDictionary(), losses.Total, logged);
        }

        var total = balancer.call(losses, taskLoss);
        var entries = balancer.Entries;
        for (int e = 0; e < entries.Count; e++)
        {
            logged[entries[e].Level < 0 ? $"kd_scale_{entries[e].Term}" : $"kd_scale_{entries[e].Term}{entries[e].Level}"] = balancer.Scales[e].clone();
        }

        return new DistillationStep(losses.ToDictionary(), total, logged);
    }

    /// <summary>
    /// Appends one diagnostic: the gradient balance at the neck (per term, part and level) and at the student's last
    /// backbone stage, and per neck level the teacher's mean squared feature (Σ_c T², averaged over cells) in object cells
    /// (loss "energy_object") and background cells ("energy_background"), in the kd_norm column.
    /// </summary>
    private void Diagnose(string file, DistillationLosses losses, Tensor taskLoss, DetectionBatch batch)
    {
        using var scope = NewDisposeScope();
        var lastStage = studentBackbone!.Features[^1];
        var report = GradientBalance.Measure(losses, taskLoss, new Dictionary<string, IReadOnlyList<Tensor>> { ["backbone_c5"] = [lastStage] });
        var lines = report.Entries.Select(entry => string.Create(CultureInfo.InvariantCulture,
            $"{step},{entry.Site},{entry.Term},{entry.Loss},{entry.Level},{entry.DistillationNorm:G6},{entry.TaskNorm:G6},{entry.Ratio:G6},{entry.Cosine:G6}")).ToList();
        var neck = teacherNeck!.Features;
        var sizes = neck.Select(level => new FeatureMapSize((int)level.shape[2], (int)level.shape[3])).ToArray();
        var masks = maskBuilder.Build(batch.Boxes, sizes, DetectorConfig.Strides.Select(s => (double)s).ToArray());
        var energies = new List<Tensor>();
        for (int level = 0; level < neck.Count; level++)
        {
            var cellEnergy = neck[level].detach().square().sum(1);
            var mask = masks[level].to(cellEnergy.device);
            var background = ones_like(mask) - mask;
            energies.Add((cellEnergy * mask).sum() / mask.sum().clamp_min(1));
            energies.Add((cellEnergy * background).sum() / background.sum().clamp_min(1));
        }

        var values = stack(energies).to(float64).cpu().data<double>().ToArray();
        for (int level = 0; level < neck.Count; level++)
        {
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"{step},teacher_neck,neck,energy_object,{level},{values[2 * level]:G6},,,"));
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"{step},teacher_neck,neck,energy_background,{level},{values[(2 * level) + 1]:G6},,,"));
        }

        File.AppendAllLines(file, lines);
        if (!warned && report.Warning() is { } warning)
        {
            Console.WriteLine($"step {step}: {warning}");
            warned = true;
        }
    }

    /// <inheritdoc />
    public IDisposable Suspend() => distiller.Suspend();

    /// <summary>
    /// Saves the distiller's state (its adaptation layers and its step; TorchSharp <c>save</c> format) and, with a
    /// balancer, the balancer's scales to <c>{path}.balance</c>.
    /// </summary>
    public void Save(string path)
    {
        distiller.save(path);
        balancer?.save(path + ".balance");
    }

    /// <summary>Restores what <see cref="Save"/> wrote: the adaptation layers, the step and the balancer's scales.</summary>
    public void Load(string path)
    {
        distiller.load(path);
        balancer?.load(path + ".balance");
        step = (int)distiller.Step;
    }

    /// <summary>Detaches the distiller (its hooks and adaptation layers) and the diagnostic taps from both detectors.</summary>
    public void Dispose()
    {
        studentBackbone?.Dispose();
        teacherNeck?.Dispose();
        balancer?.Dispose();
        distiller.Dispose();
    }
}
