using DeFeat.Losses;
using DeFeat.Losses.Masks;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Terms;

/// <summary>
/// What a term gets for one step of the distiller besides what its taps recorded: the GT boxes, the image size when the
/// caller gave one, and the object-mask step every term that needs masks goes through.
/// </summary>
public sealed class TermStep
{
    internal TermStep(IReadOnlyList<Tensor> gtBoxes, ImageSize? imageSize)
    {
        GtBoxes = gtBoxes;
        ImageSize = imageSize;
    }

    /// <summary>One [N_i, 4] (x1, y1, x2, y2) tensor of GT boxes per image, in input pixels.</summary>
    public IReadOnlyList<Tensor> GtBoxes { get; }

    /// <summary>The input batch's (padded) size in pixels, or null when the caller gave none (terms with their own strides need none).</summary>
    public ImageSize? ImageSize { get; }

    /// <summary>
    /// The image size, for a term that cannot do without it (strides derived from it, levels whose sizes only it gives).
    /// </summary>
    /// <param name="term">The term that needs it, for the message.</param>
    /// <param name="why">Why it needs it, for the message (e.g. "its strides are derived from it").</param>
    /// <returns>The image size.</returns>
    /// <exception cref="ArgumentException">The caller gave none; the message names <c>imageSize</c>, the term and the remedy.</exception>
    public ImageSize RequireImageSize(string term, string why)
        => ImageSize ?? throw new ArgumentException(
            $"imageSize is missing, but the term '{term}' needs it: {why}. Pass the size of the batch the detectors see, height first, "
            + "to the distiller's call (new ImageSize((int)images.shape[2], (int)images.shape[3])), or give the term its Strides.",
            "imageSize");

    /// <summary>
    /// The object masks of this step at the sizes of <paramref name="teacherMaps"/>: the GT boxes (one tensor per image of
    /// the maps' batch) painted by <paramref name="maskBuilder"/> onto each level, at <paramref name="strides"/> or, when
    /// none are given, image height / map height (cross-checked with the width and the image size). How a box becomes
    /// cells (its region rule) is the mask builder's: see <see cref="ObjectMaskBuilder"/> and <see cref="BoxCellRegions"/>.
    /// </summary>
    /// <param name="term">The term asking, for messages.</param>
    /// <param name="maskBuilder">The mask rule.</param>
    /// <param name="teacherMaps">The teacher's maps, [B, C, H_l, W_l] per level.</param>
    /// <param name="strides">Stride of each level in input pixels per cell, or null to derive them from the image size.</param>
    /// <returns>[B, H_l, W_l] float32 masks in [0, 1] per level, on the maps' device.</returns>
    /// <exception cref="ArgumentException">
    /// The GT boxes are not one tensor per image, no strides and no image size, or the image size or the strides do not
    /// fit the maps (the message names <c>gtBoxes</c>, <c>imageSize</c> or <c>options.Strides</c>).
    /// </exception>
    public IReadOnlyList<Tensor> ObjectMasks(string term, ObjectMaskBuilder maskBuilder, IReadOnlyList<Tensor> teacherMaps, IReadOnlyList<double>? strides)
    {
        Guard.NotNull(maskBuilder, nameof(maskBuilder));
        Guard.NotEmpty(Guard.NotNull(teacherMaps, nameof(teacherMaps)), nameof(teacherMaps));
        var batch = teacherMaps[0].shape[0];
        if (GtBoxes.Count != batch)
        {
            throw new ArgumentException(
                $"gtBoxes must hold one [N_i, 4] tensor per image of the batch the models saw ({batch} images); got {GtBoxes.Count}.",
                "gtBoxes");
        }

        var sizes = teacherMaps.Select(map => new FeatureMapSize((int)map.shape[^2], (int)map.shape[^1])).ToArray();
        ImageSizeCheck.ThrowIfInconsistent(ImageSize, sizes, strides);
        var levelStrides = strides
            ?? sizes.Select(size => (double)RequireImageSize(term, "its strides are derived from it (image height / feature height)").Height / size.Height).ToArray();
        return [.. maskBuilder.Build(GtBoxes, sizes, levelStrides).Select((mask, level) => mask.to(teacherMaps[level].device))];
    }
}
