using FasterRcnnDistillation.Data;
using FasterRcnnDistillation.Evaluation;
using FasterRcnnDistillation.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Model;

/// <summary>
/// Faster R-CNN with FPN: <c>backbone</c> (ResNet-style) → <c>neck</c> (FPN, P2..P6) → <c>rpn</c> →
/// <c>roi_head</c>. forward: images [B, 3, H, W] in [0, 1] → P2..P6. Knows nothing about distillation.
/// </summary>
public sealed class FasterRcnn : nn.Module<Tensor, Tensor[]>
{
    private readonly ResNetBackbone backbone;
    private readonly FeaturePyramid neck;
    private readonly RegionProposalNetwork rpn;
    private readonly RoiHead roi_head;

    public FasterRcnn(DetectorConfig config)
        : base(nameof(FasterRcnn))
    {
        Config = config;
        backbone = new ResNetBackbone("backbone", config.BlockCounts, config.BaseWidth);
        neck = new FeaturePyramid("neck", backbone.OutChannels, config.FpnChannels);
        rpn = new RegionProposalNetwork("rpn", config.FpnChannels, config);
        roi_head = new RoiHead("roi_head", config.FpnChannels, config);
        RegisterComponents();
    }

    public DetectorConfig Config { get; }

    public override Tensor[] forward(Tensor images)
        => neck.call(backbone.call((images - 0.45) / 0.25));

    /// <summary>
    /// One training forward: P2..P6, the four detector losses (rpn_cls, rpn_reg, rcnn_cls, rcnn_reg; 0-D tensors) and
    /// the RoIs (with labels) the RoI head classified.
    /// </summary>
    public TrainingOutput TrainingForward(DetectionBatch batch)
    {
        Tensor[] features;
        using (StepProfile.Measure("backbone + FPN"))
        {
            features = call(batch.Images);
        }

        Tensor[] objectness, deltas, anchors;
        using (StepProfile.Measure("RPN head + anchors"))
        {
            (objectness, deltas) = rpn.call(features);
            anchors = rpn.AnchorsFor(features);
        }

        Tensor rpnCls, rpnReg;
        using (StepProfile.Measure("RPN loss (assign, sample)"))
        {
            (rpnCls, rpnReg) = rpn.Loss(anchors, objectness, deltas, batch.Boxes);
        }

        var proposals = rpn.Proposals(anchors, objectness, deltas, batch.Images.shape[2], batch.Images.shape[3], Config.RpnPostNmsTrain);
        RoiTargets sampled;
        using (StepProfile.Measure("RoI sampling"))
        {
            sampled = roi_head.Sample(proposals, batch.Boxes, batch.Labels);
        }

        var (logits, boxDeltas, rois, labels) = roi_head.call(features, sampled.Rois, sampled.Labels);
        Tensor rcnnCls, rcnnReg;
        using (StepProfile.Measure("RoI head loss"))
        {
            (rcnnCls, rcnnReg) = roi_head.Loss(logits, boxDeltas, rois, labels, batch.Boxes);
        }

        var losses = new Dictionary<string, Tensor>
        {
            ["rpn_cls"] = rpnCls,
            ["rpn_reg"] = rpnReg,
            ["rcnn_cls"] = rcnnCls,
            ["rcnn_reg"] = rcnnReg,
        };
        return new TrainingOutput(features, losses, new RoiTargets(rois, labels));
    }

    /// <summary>
    /// The training-time forward without losses (what a teacher runs for distillation): P2..P6, then RoIs sampled
    /// from this model's own proposals plus the GT (<see cref="DetectorConfig.RoiSamples"/> per image, ≤ 25 % positive) classified by the RoI head.
    /// Returns the RoI head's logits [R, K + 1].
    /// </summary>
    public Tensor SampleAndClassify(DetectionBatch batch)
    {
        var features = call(batch.Images);
        var (objectness, deltas) = rpn.call(features);
        var proposals = rpn.Proposals(rpn.AnchorsFor(features), objectness, deltas, batch.Images.shape[2], batch.Images.shape[3], Config.RpnPostNmsTrain);
        var sampled = roi_head.Sample(proposals, batch.Boxes, batch.Labels);
        return roi_head.call(features, sampled.Rois, sampled.Labels).Logits;
    }

    /// <summary>Detections for images [B, 3, H, W]; image indices start at <paramref name="firstImageIndex"/>.</summary>
    public List<Detection> Detect(Tensor images, int firstImageIndex)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var features = call(images);
        var (objectness, deltas) = rpn.call(features);
        long height = images.shape[2], width = images.shape[3];
        var proposals = rpn.Proposals(rpn.AnchorsFor(features), objectness, deltas, height, width, Config.RpnPostNmsTest);
        var detections = new List<Detection>();
        for (int i = 0; i < proposals.Length; i++)
        {
            detections.AddRange(roi_head.Detect(features, proposals[i], i, firstImageIndex + i, height, width));
        }

        return detections;
    }
}

/// <summary>What a training forward produced: P2..P6, the named detector losses, the RoIs and labels classified.</summary>
public sealed record TrainingOutput(Tensor[] Features, Dictionary<string, Tensor> Losses, RoiTargets Rois);
