using DeFeat.Losses.Masks;

namespace DeFeat.Hooks.Terms;

/// <summary>
/// Cross-checks the <see cref="ImageSize"/> a caller passes against the feature-map sizes the necks produced, so that
/// swapped height and width, or the original image size instead of the network input size, fail instead of silently
/// changing the strides.
/// </summary>
internal static class ImageSizeCheck
{
    /// <summary>
    /// Without explicit strides, each level's height and width must give the same stride (H / H_l and W / W_l, within
    /// the rounding of an unpadded input: a relative gap of 1/H_l + 1/W_l). With strides, each level's size must be
    /// the image size divided by its stride, rounded either way. Without an image size only the strides' count is checked.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// The image size does not fit the features, or the strides (the option <c>options.Strides</c> of every term and of
    /// the preset) are not one per recorded level.
    /// </exception>
    public static void ThrowIfInconsistent(ImageSize? given, IReadOnlyList<FeatureMapSize> sizes, IReadOnlyList<double>? strides)
    {
        if (strides is not null && strides.Count != sizes.Count)
        {
            throw new ArgumentException(
                $"options.Strides has {strides.Count} stride(s), but the tapped module returned {sizes.Count} level(s) this step "
                + $"({string.Join(", ", sizes.Select(size => $"{size.Height}×{size.Width}"))} cells); give one stride per level.",
                "options.Strides");
        }

        if (given is not { } imageSize)
        {
            return;
        }

        for (var level = 0; level < sizes.Count; level++)
        {
            var size = sizes[level];
            string? problem;
            if (strides is null)
            {
                var (byHeight, byWidth) = ((double)imageSize.Height / size.Height, (double)imageSize.Width / size.Width);
                var tolerance = Math.Max(byHeight, byWidth) * ((1.0 / size.Height) + (1.0 / size.Width));
                problem = Math.Abs(byHeight - byWidth) <= tolerance
                    ? null
                    : $"level {level} is {size.Height}×{size.Width} cells, which gives a stride of {byHeight:0.###} from the height "
                      + $"and {byWidth:0.###} from the width";
            }
            else
            {
                var stride = strides[level];
                problem = Math.Abs(size.Height - (imageSize.Height / stride)) < 1 && Math.Abs(size.Width - (imageSize.Width / stride)) < 1
                    ? null
                    : $"level {level} is {size.Height}×{size.Width} cells, but {imageSize.Height}×{imageSize.Width} px at stride {stride} "
                      + $"gives {imageSize.Height / stride:0.##}×{imageSize.Width / stride:0.##}";
            }

            if (problem is not null)
            {
                throw new ArgumentException(
                    $"imageSize (height {imageSize.Height}, width {imageSize.Width}) does not fit the features: {problem}. Pass the size of the "
                    + "batch the detectors see, height first: new ImageSize((int)images.shape[2], (int)images.shape[3]) (not the original "
                    + "image size, and not width first)" + (strides is null ? "." : ", or fix options.Strides."),
                    nameof(imageSize));
            }
        }
    }
}
