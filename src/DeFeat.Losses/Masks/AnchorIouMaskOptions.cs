namespace DeFeat.Losses.Masks;

/// <summary>
/// The anchor layout and threshold of <see cref="AnchorIouMaskBuilder"/> (FGFI), following mmdetection v2's
/// <c>AnchorGenerator</c> with its default base sizes (= the strides) and centre offset o
/// (<see cref="CenterOffset"/>, default 0): on a level with stride s, cell (i, j) carries one anchor per
/// (ratio r, scale k), centred on the pixel ((j + o)·s, (i + o)·s), of width s·k/√r and height s·k·√r pixels.
/// Immutable; the lists are copied on assignment.
/// </summary>
public sealed record AnchorIouMaskOptions
{
    /// <summary>Faster R-CNN's RPN anchors in mmdetection v2: scale 8, ratios 0.5, 1, 2 (3 anchors per cell).</summary>
    public static AnchorIouMaskOptions FasterRcnn { get; } = new();

    /// <summary>RetinaNet's anchors in mmdetection v2: octave base scale 4, 3 scales per octave, ratios 0.5, 1, 2
    /// (9 anchors per cell).</summary>
    public static AnchorIouMaskOptions RetinaNet { get; } = new() { Scales = OctaveScales(4, 3) };

    /// <summary>
    /// Anchor scales k (&gt; 0, at least one): an anchor of ratio 1 on a level with stride s is s·k pixels square.
    /// Default [8].
    /// </summary>
    /// <exception cref="ArgumentException">The list is null or empty, or a scale is not a finite number &gt; 0.</exception>
    public IReadOnlyList<double> Scales
    {
        get;
        init => field = PositiveList(value, nameof(Scales));
    } = [8.0];

    /// <summary>Anchor aspect ratios r = height / width (&gt; 0, at least one). Default [0.5, 1, 2].</summary>
    /// <exception cref="ArgumentException">The list is null or empty, or a ratio is not a finite number &gt; 0.</exception>
    public IReadOnlyList<double> Ratios
    {
        get;
        init => field = PositiveList(value, nameof(Ratios));
    } = [0.5, 1.0, 2.0];

    /// <summary>
    /// φ in (0, 1]: a cell is marked where one of its anchors has an IoU with a GT box greater than φ times that box's
    /// largest IoU over all anchors of all levels. Default 0.5 (FGFI's ψ).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not in (0, 1].</exception>
    public double IouFactor
    {
        get;
        init => field = Guard.Fraction(value, nameof(IouFactor));
    } = 0.5;

    /// <summary>
    /// The anchor centre offset o in [0, 1], in units of the stride: the anchors of cell (i, j) are centred on
    /// ((j + o)·s, (i + o)·s). Default 0 (mmdetection v2's <c>center_offset</c>, which with the default base sizes
    /// = the strides is the same fraction of the stride). Use 0.5 for detectors whose anchors sit at the cell centres
    /// (j + 0.5)·s, e.g. ML.NET's AutoFormerV2 RetinaNet head.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not in [0, 1].</exception>
    public double CenterOffset
    {
        get;
        init => field = Guard.InRange(value, 0, 1, nameof(CenterOffset));
    }

    /// <summary>mmdetection's octave scales: octaveBaseScale · 2^(i / scalesPerOctave), i = 0 … scalesPerOctave − 1.</summary>
    /// <param name="octaveBaseScale">The first scale (&gt; 0), e.g. 4 for RetinaNet.</param>
    /// <param name="scalesPerOctave">How many scales per octave (≥ 1), e.g. 3 for RetinaNet.</param>
    /// <returns>scalesPerOctave scales, ascending.</returns>
    public static IReadOnlyList<double> OctaveScales(double octaveBaseScale, int scalesPerOctave)
    {
        Guard.Positive(octaveBaseScale, nameof(octaveBaseScale));
        Guard.Positive(scalesPerOctave, nameof(scalesPerOctave));
        return Enumerable.Range(0, scalesPerOctave)
            .Select(i => octaveBaseScale * Math.Pow(2, (double)i / scalesPerOctave))
            .ToArray();
    }

    private static double[] PositiveList(IReadOnlyList<double> values, string name)
    {
        Guard.NotNull(values, name);
        Guard.NotEmpty(values, name);
        var copy = values.ToArray();
        for (var i = 0; i < copy.Length; i++)
        {
            Guard.Positive(copy[i], $"{name}[{i}]");
        }

        return copy;
    }
}
