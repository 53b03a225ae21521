using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Masks;

/// <summary>
/// Builds per-level object masks from GT boxes. <see cref="Build"/> validates the arguments, gathers the boxes of
/// all images into one <see cref="GroundTruthBatch"/> and hands it to the rule of the concrete builder
/// (<see cref="BuildLevelMasks"/>). The rules are vectorised: no loop over boxes or cells, at most one over levels.
/// </summary>
public abstract class ObjectMaskBuilder
{
    private const string BoxesArgument = "gtBoxes";

    /// <summary>
    /// Whether <see cref="Build"/> checks the box values (finite coordinates, x1 ≤ x2, y1 ≤ y2) and throws naming the
    /// first bad box. The check is one combined test over all boxes of the batch followed by a single host read.
    /// <c>null</c> (the default): checked when the boxes are on the CPU, where the read waits for nothing; not checked
    /// on a GPU, so that <see cref="Build"/> stays asynchronous there. <c>true</c>: checked on every device (on a GPU,
    /// one host synchronisation per call: the only one of <see cref="Build"/>, whose shape, dtype and device checks
    /// read no tensor data). <c>false</c>: never checked. Unchecked invalid boxes give unspecified mask values (never
    /// an out-of-range index).
    /// </summary>
    public bool? ValidateBoxValues { get; init; }

    /// <summary>
    /// Builds one object mask per feature level.
    /// </summary>
    /// <param name="gtBoxes">One [N_i, 4] floating-point tensor per image (B = gtBoxes.Count ≥ 1): the image's GT
    /// boxes as (x1, y1, x2, y2) in input-image pixels (the resized image the detector sees, padded bottom-right).
    /// N_i = 0 (an image without objects) is valid. All on one device.</param>
    /// <param name="featureSizes">The size [H_l, W_l] of each of the L ≥ 1 levels, in cells.</param>
    /// <param name="strides">The stride s_l of each level, in input-image pixels per cell (L values, &gt; 0).</param>
    /// <returns>L tensors, [B, H_l, W_l] float32 each, on the boxes' device; values in [0, 1], 0 meaning background.
    /// The caller owns (and disposes) them.</returns>
    /// <exception cref="ArgumentException">An argument is null, empty or has the wrong shape, dtype, device or value;
    /// the message names it and states the expected and actual value.</exception>
    /// <exception cref="InvalidOperationException">The rule (<see cref="BuildLevelMasks"/>) returned null, another number
    /// of masks than levels, or a null or disposed mask; the message names the builder and the level.</exception>
    public Tensor[] Build(IReadOnlyList<Tensor> gtBoxes, IReadOnlyList<FeatureMapSize> featureSizes, IReadOnlyList<double> strides)
    {
        ValidateBoxTensors(gtBoxes);
        var levels = ValidateLevels(featureSizes, strides);

        using var scope = NewDisposeScope();
        var batch = Concatenate(gtBoxes);
        if (ValueChecks.Enabled(ValidateBoxValues, batch.Boxes))
        {
            ValidateValues(batch);
        }

        var masks = BuildLevelMasks(batch, levels);
        ThrowIfNotOnePerLevel(masks, levels.Length);
        foreach (var mask in masks)
        {
            mask.MoveToOuterDisposeScope();
        }

        return masks;
    }

    /// <summary>
    /// The rule: builds the masks from validated arguments. Called inside <see cref="Build"/>'s dispose scope, so
    /// intermediate tensors need no disposing; the returned ones are moved out of it.
    /// </summary>
    /// <param name="groundTruth">The batch's boxes, concatenated, on the device to build on.</param>
    /// <param name="levels">The L ≥ 1 levels, in the caller's order.</param>
    /// <returns>L tensors, [B, H_l, W_l] float32 on <see cref="GroundTruthBatch.Device"/>, one per level in order.</returns>
    protected abstract Tensor[] BuildLevelMasks(GroundTruthBatch groundTruth, IReadOnlyList<MaskLevel> levels);

    /// <summary>What a rule returned must be one live tensor per level (a subclass's rule is user code).</summary>
    private void ThrowIfNotOnePerLevel(Tensor[]? masks, int levels)
    {
        var rule = $"{GetType().Name}.{nameof(BuildLevelMasks)}";
        if (masks is null || masks.Length != levels)
        {
            throw new InvalidOperationException(
                $"{rule} returned {(masks is null ? "null" : $"{masks.Length} mask(s)")} for {levels} level(s); it must return one [B, H_l, W_l] mask per level.");
        }

        for (var level = 0; level < levels; level++)
        {
            if (masks[level] is not { IsInvalid: false })
            {
                throw new InvalidOperationException(
                    $"{rule} returned {levels} mask(s) and mask {level} is {(masks[level] is null ? "null" : "a disposed tensor")}; it must return a live "
                    + "[B, H_l, W_l] mask per level.");
            }
        }
    }

    private static void ValidateBoxTensors(IReadOnlyList<Tensor> gtBoxes)
    {
        Guard.NotNull(gtBoxes, nameof(gtBoxes));
        Guard.NotEmpty(gtBoxes, nameof(gtBoxes));
        var device = Guard.NotNull(gtBoxes[0], $"{nameof(gtBoxes)}[0]").device;
        for (var image = 0; image < gtBoxes.Count; image++)
        {
            var name = $"{nameof(gtBoxes)}[{image}]";
            var boxes = Guard.NotNull(gtBoxes[image], name);
            Guard.Rank(boxes, 2, name, "[N, 4] xyxy boxes");
            Guard.Shape(boxes, [boxes.shape[0], 4], name);
            Guard.FloatingPoint(boxes, name);
            Guard.SameDevice(boxes, device, name);
        }
    }

    private static MaskLevel[] ValidateLevels(IReadOnlyList<FeatureMapSize> featureSizes, IReadOnlyList<double> strides)
    {
        Guard.NotNull(featureSizes, nameof(featureSizes));
        Guard.NotEmpty(featureSizes, nameof(featureSizes));
        Guard.NotNull(strides, nameof(strides));
        Guard.Count(strides.Count, featureSizes.Count, nameof(strides), "strides");
        var levels = new MaskLevel[featureSizes.Count];
        for (var level = 0; level < levels.Length; level++)
        {
            Guard.Positive(featureSizes[level].Height, $"{nameof(featureSizes)}[{level}].{nameof(FeatureMapSize.Height)}");
            Guard.Positive(featureSizes[level].Width, $"{nameof(featureSizes)}[{level}].{nameof(FeatureMapSize.Width)}");
            Guard.Positive(strides[level], $"{nameof(strides)}[{level}]");
            levels[level] = new MaskLevel(featureSizes[level], strides[level]);
        }

        return levels;
    }

    private static GroundTruthBatch Concatenate(IReadOnlyList<Tensor> gtBoxes)
    {
        var device = gtBoxes[0].device;
        var boxes = new Tensor[gtBoxes.Count];
        var imageIndex = new Tensor[gtBoxes.Count];
        var boxCounts = new long[gtBoxes.Count];
        for (var image = 0; image < gtBoxes.Count; image++)
        {
            boxes[image] = gtBoxes[image].detach().to(ScalarType.Float64);
            boxCounts[image] = gtBoxes[image].shape[0];
            using var imageValue = image.ToScalar();
            imageIndex[image] = full([boxCounts[image]], imageValue, ScalarType.Int64, device);
        }

        return new GroundTruthBatch(cat(boxes, 0), cat(imageIndex, 0), boxCounts);
    }

    /// <summary>One combined test over all boxes and one host read; the failure path reads more to name the box.</summary>
    private static void ValidateValues(GroundTruthBatch batch)
    {
        var boxes = batch.Boxes;
        if (boxes.shape[0] == 0)
        {
            return;
        }

        var invalid = boxes.isfinite().all(1).logical_not()
            .logical_or(boxes.select(1, 2).lt(boxes.select(1, 0)))
            .logical_or(boxes.select(1, 3).lt(boxes.select(1, 1)));
        if (!invalid.any().item<bool>())
        {
            return;
        }

        var first = invalid.nonzero().select(0, 0).item<long>();
        var image = (int)batch.ImageIndex[first].item<long>();
        using var imageValue = image.ToScalar();
        var row = first - batch.ImageIndex.lt(imageValue).sum().item<long>();
        var values = boxes[first].cpu().data<double>().ToArray();
        var name = $"{BoxesArgument}[{image}]";
        throw new ArgumentException(
            $"{name} row {row} must be a box with finite coordinates, x1 <= x2 and y1 <= y2; got [{string.Join(", ", values)}].",
            name);
    }
}
