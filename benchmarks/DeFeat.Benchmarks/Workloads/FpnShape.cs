using DeFeat.Losses.Masks;

namespace DeFeat.Benchmarks.Workloads;

/// <summary>
/// The input and FPN neck geometry of one benchmark case: an image of <see cref="ImageHeight"/> ×
/// <see cref="ImageWidth"/> pixels, padded bottom-right to a multiple of 32 (mmdetection's size divisor), and five
/// levels P2–P6 at strides 4, 8, 16, 32, 64 with <see cref="Channels"/> channels each (ResNet-50-FPN).
/// </summary>
internal sealed record FpnShape(string Name, int ImageHeight, int ImageWidth, int Channels)
{
    /// <summary>A small case for quick runs: 320 × 320 input, levels 80², 40², 20², 10², 5², 256 channels.</summary>
    public const string Small = "small-320x320";

    /// <summary>COCO training size 1333 × 800 (padded 1344 × 800): 200×336, 100×168, 50×84, 25×42, 13×21, 256 ch.</summary>
    public const string Coco = "coco-1333x800";

    /// <summary>FPN strides of P2–P6 in input pixels.</summary>
    public static IReadOnlyList<double> Strides { get; } = [4.0, 8.0, 16.0, 32.0, 64.0];

    /// <summary>Per-level feature sizes: P2–P5 = ceil(padded / stride); P6 = ceil(P5 / 2) (stride-2 max-pool).</summary>
    public IReadOnlyList<FeatureMapSize> Levels { get; } = LevelsFor(ImageHeight, ImageWidth);

    /// <summary>Σ_l H_l · W_l, the number of cells of one image over all levels.</summary>
    public long CellsPerImage => Levels.Sum(size => (long)size.Height * size.Width);

    public static FpnShape Named(string name) => name switch
    {
        Small => new FpnShape(Small, 320, 320, 256),
        Coco => new FpnShape(Coco, 800, 1333, 256),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, $"Unknown shape '{name}'; use {Small} or {Coco}."),
    };

    private static FeatureMapSize[] LevelsFor(int imageHeight, int imageWidth)
    {
        const int sizeDivisor = 32;
        var paddedHeight = CeilDiv(imageHeight, sizeDivisor) * sizeDivisor;
        var paddedWidth = CeilDiv(imageWidth, sizeDivisor) * sizeDivisor;
        var levels = new List<FeatureMapSize>();
        foreach (var stride in new[] { 4, 8, 16, 32 })
        {
            levels.Add(new FeatureMapSize(CeilDiv(paddedHeight, stride), CeilDiv(paddedWidth, stride)));
        }

        var p5 = levels[^1];
        levels.Add(new FeatureMapSize(CeilDiv(p5.Height, 2), CeilDiv(p5.Width, 2)));
        return [.. levels];
    }

    private static int CeilDiv(int value, int divisor) => (value + divisor - 1) / divisor;
}
