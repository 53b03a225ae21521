namespace FasterRcnnDistillation.Data;

/// <summary>A list of equally sized detection samples with their class names.</summary>
public sealed class DetectionDataset
{
    public DetectionDataset(IReadOnlyList<string> classNames, IReadOnlyList<DetectionSample> samples)
    {
        ArgumentNullException.ThrowIfNull(classNames);
        ArgumentNullException.ThrowIfNull(samples);
        if (samples.Select(s => (s.Height, s.Width)).Distinct().Count() > 1)
        {
            throw new ArgumentException("All samples must have the same image size.", nameof(samples));
        }

        ClassNames = classNames;
        Samples = samples;
    }

    /// <summary>A data set whose samples all have the given size (not read back: for samples rendered on demand).</summary>
    public DetectionDataset(IReadOnlyList<string> classNames, IReadOnlyList<DetectionSample> samples, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(classNames);
        ArgumentNullException.ThrowIfNull(samples);
        ClassNames = classNames;
        Samples = samples;
        knownSize = (height, width);
    }

    private readonly (int Height, int Width)? knownSize;

    public IReadOnlyList<string> ClassNames { get; }

    public IReadOnlyList<DetectionSample> Samples { get; }

    public int Count => Samples.Count;

    /// <summary>The longer image side in pixels (0 for an empty set).</summary>
    public int ImageSize => Samples.Count == 0 ? 0 : knownSize is { } size ? Math.Max(size.Height, size.Width) : Math.Max(Samples[0].Height, Samples[0].Width);
}
