namespace FasterRcnnDistillation.Data;

/// <summary>
/// A read-only list of <see cref="DetectionSample"/>s whose items are rendered when they are read (from a per-item
/// seed), not stored: a training set of 100,000 synthetic images costs 400 KB of seeds instead of 11 GB of pixels.
/// Reading the same index twice renders the same sample.
/// </summary>
public sealed class RenderedOnDemand : IReadOnlyList<DetectionSample>
{
    private readonly int[] seeds;
    private readonly Func<int, DetectionSample> render;

    /// <param name="seeds">One seed per item.</param>
    /// <param name="render">Renders the sample of a seed; must be deterministic.</param>
    public RenderedOnDemand(int[] seeds, Func<int, DetectionSample> render)
    {
        ArgumentNullException.ThrowIfNull(seeds);
        ArgumentNullException.ThrowIfNull(render);
        this.seeds = seeds;
        this.render = render;
    }

    public int Count => seeds.Length;

    public DetectionSample this[int index] => render(seeds[index]);

    public IEnumerator<DetectionSample> GetEnumerator()
    {
        foreach (int seed in seeds)
        {
            yield return render(seed);
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
