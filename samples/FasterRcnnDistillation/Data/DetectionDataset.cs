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

    public IReadOnlyList<string> ClassNames { get; }

    public IReadOnlyList<DetectionSample> Samples { get; }

    public int Count => Samples.Count;

    public int ImageSize => Samples.Count == 0 ? 0 : Math.Max(Samples[0].Height, Samples[0].Width);
}
