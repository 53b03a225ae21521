namespace FasterRcnnDistillation.Model;

/// <summary>
/// Size and hyper-parameters of a <see cref="FasterRcnn"/>. Anchors: 3 ratios × 1 scale per level, base size
/// <see cref="AnchorScale"/> × stride (P2..P6 strides 4..64).
/// </summary>
public sealed record DetectorConfig
{
    public required int[] BlockCounts { get; init; }

    public required int BaseWidth { get; init; }

    public required int FpnChannels { get; init; }

    public required int Classes { get; init; }

    public int HeadHidden { get; init; } = 256;

    public double AnchorScale { get; init; } = 4;

    public double[] AnchorRatios { get; init; } = { 0.5, 1.0, 2.0 };

    public int RpnPreNmsPerLevel { get; init; } = 1000;

    public int RpnPostNmsTrain { get; init; } = 1000;

    public int RpnPostNmsTest { get; init; } = 500;

    public double RpnNmsIou { get; init; } = 0.7;

    /// <summary>
    /// RoIs sampled per image for the RoI head's loss (≤ <see cref="RoiPositiveFraction"/> positive). 128, as in the
    /// original Faster R-CNN (py-faster-rcnn's TRAIN.BATCH_SIZE), rather than mmdetection's 512, which is made for
    /// 1333 × 800 images: on 96 px images with 1–5 objects it trains as well (RESULTS.md, "Step time") at a quarter of
    /// the RoIAlign and box-head work, the largest part of a step.
    /// </summary>
    public int RoiSamples { get; init; } = DefaultRoiSamples;

    /// <summary>The default of <see cref="RoiSamples"/>.</summary>
    public const int DefaultRoiSamples = 128;

    public double RoiPositiveFraction { get; init; } = 0.25;

    public int RoiOutputSize { get; init; } = 7;

    public int RoiSamplingRatio { get; init; } = 2;

    public double ScoreThreshold { get; init; } = 0.05;

    public double DetectionNmsIou { get; init; } = 0.5;

    public int MaxDetections { get; init; } = 100;

    public static int[] Strides { get; } = { 4, 8, 16, 32, 64 };

    /// <summary>The sizes that fix the parameter shapes, e.g. "blocks 3,4,6,3, width 32, FPN 64, head 256, classes 5".</summary>
    public string Summary => $"blocks {string.Join(',', BlockCounts)}, width {BaseWidth}, FPN {FpnChannels}, head {HeadHidden}, classes {Classes}";

    /// <summary>
    /// The teacher: ResNet-34-like blocks (3, 4, 6, 3), width 32..256, FPN 64 channels. (Widths are multiples of 16:
    /// with width 24 the CPU convolution backward of libtorch 2.10 here intermittently returned NaN gradients.)
    /// </summary>
    public static DetectorConfig Teacher(int classes)
        => new() { BlockCounts = new[] { 3, 4, 6, 3 }, BaseWidth = 32, FpnChannels = 64, Classes = classes };

    /// <summary>The student: ResNet-18-like blocks (2, 2, 2, 2), width 16..128, FPN 32 channels.</summary>
    public static DetectorConfig Student(int classes)
        => new() { BlockCounts = new[] { 2, 2, 2, 2 }, BaseWidth = 16, FpnChannels = 32, Classes = classes };
}
