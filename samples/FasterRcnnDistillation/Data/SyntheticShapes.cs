namespace FasterRcnnDistillation.Data;

/// <summary>
/// The built-in dataset: deterministic images of textured shapes (5 classes, varied scale and aspect, some occluding
/// each other) on cluttered, textured backgrounds with small distractor marks, generated from a seed. The same
/// (seed, count, size) always gives the same images, on every machine. Images are rendered when they are read
/// (<see cref="RenderedOnDemand"/>), so a set of any size costs only its seeds in memory.
/// </summary>
public static class SyntheticShapes
{
    public static readonly IReadOnlyList<string> ClassNames = new[] { "rectangle", "ellipse", "triangle", "cross", "ring" };

    private const double MaxOverlapIou = 0.3;

    /// <summary>Train and validation splits: disjoint streams derived from one data seed.</summary>
    public static (DetectionDataset Train, DetectionDataset Val) Splits(int trainCount, int valCount, int dataSeed, int imageSize)
        => (Generate(trainCount, dataSeed * 2 + 1, imageSize), Generate(valCount, dataSeed * 2 + 2, imageSize));

    public static DetectionDataset Generate(int count, int seed, int imageSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(imageSize, 32);
        var random = new Random(seed);
        var seeds = new int[count];
        for (int i = 0; i < count; i++)
        {
            seeds[i] = random.Next();
        }

        return new DetectionDataset(ClassNames, new RenderedOnDemand(seeds, s => Render(new Random(s), imageSize)), imageSize, imageSize);
    }

    private static DetectionSample Render(Random random, int size)
    {
        var pixels = new float[3 * size * size];
        PaintBackground(random, pixels, size);
        PaintClutter(random, pixels, size);

        var boxes = new List<float[]>();
        var labels = new List<long>();
        int wanted = random.Next(1, 6);
        for (int attempt = 0; attempt < 50 && boxes.Count < wanted; attempt++)
        {
            double scale = size * (0.12 + 0.43 * random.NextDouble());
            double aspect = Math.Exp((random.NextDouble() * 2 - 1) * Math.Log(2.2));
            double w = Math.Min(size - 2, scale * Math.Sqrt(aspect));
            double h = Math.Min(size - 2, scale / Math.Sqrt(aspect));
            double x1 = random.NextDouble() * (size - w);
            double y1 = random.NextDouble() * (size - h);
            var box = new[] { (float)Math.Round(x1), (float)Math.Round(y1), (float)Math.Round(x1 + w), (float)Math.Round(y1 + h) };
            if (box[2] - box[0] < 6 || box[3] - box[1] < 6 || boxes.Any(b => Iou(b, box) > MaxOverlapIou))
            {
                continue;
            }

            int label = random.Next(ClassNames.Count);
            PaintShape(random, pixels, size, box, label);
            boxes.Add(box);
            labels.Add(label);
        }

        return new DetectionSample(pixels, size, size, boxes.SelectMany(b => b).ToArray(), labels.ToArray());
    }

    private static void PaintBackground(Random random, float[] pixels, int size)
    {
        var baseColour = RandomColour(random, 0.2, 0.8);
        var gradient = RandomColour(random, -0.25, 0.25);
        double fx = (random.NextDouble() * 2 - 1) * 0.4, fy = (random.NextDouble() * 2 - 1) * 0.4, phase = random.NextDouble() * 6.3;
        double amplitude = 0.04 + 0.08 * random.NextDouble();
        for (int y = 0; y < size; y++)
        {
            for (int x = 0; x < size; x++)
            {
                double t = (x + y) / (2.0 * size);
                double wave = amplitude * Math.Sin(fx * x + fy * y + phase);
                for (int c = 0; c < 3; c++)
                {
                    double noise = (random.NextDouble() - 0.5) * 0.12;
                    pixels[(c * size + y) * size + x] = (float)Math.Clamp(baseColour[c] + gradient[c] * t + wave + noise, 0, 1);
                }
            }
        }
    }

    private static void PaintClutter(Random random, float[] pixels, int size)
    {
        int marks = random.Next(4, 12);
        for (int m = 0; m < marks; m++)
        {
            var colour = RandomColour(random, 0, 1);
            if (random.Next(2) == 0)
            {
                // A thin line segment.
                double x0 = random.NextDouble() * size, y0 = random.NextDouble() * size;
                double angle = random.NextDouble() * Math.PI, length = size * (0.1 + 0.4 * random.NextDouble());
                for (double s = 0; s < length; s += 0.5)
                {
                    Set(pixels, size, (int)(x0 + s * Math.Cos(angle)), (int)(y0 + s * Math.Sin(angle)), colour);
                }
            }
            else
            {
                // A small blob, too small to be an object.
                int r = random.Next(1, 4), cx = random.Next(size), cy = random.Next(size);
                for (int dy = -r; dy <= r; dy++)
                {
                    for (int dx = -r; dx <= r; dx++)
                    {
                        if (dx * dx + dy * dy <= r * r)
                        {
                            Set(pixels, size, cx + dx, cy + dy, colour);
                        }
                    }
                }
            }
        }
    }

    private static void PaintShape(Random random, float[] pixels, int size, float[] box, int label)
    {
        var colour = RandomColour(random, 0, 1);
        var second = RandomColour(random, 0, 1);
        int texture = random.Next(3); // 0 solid, 1 stripes, 2 checker
        double period = 3 + random.Next(6);
        double cx = (box[0] + box[2]) / 2, cy = (box[1] + box[3]) / 2, hw = (box[2] - box[0]) / 2, hh = (box[3] - box[1]) / 2;
        for (int y = (int)box[1]; y < (int)box[3]; y++)
        {
            for (int x = (int)box[0]; x < (int)box[2]; x++)
            {
                double u = (x + 0.5 - cx) / hw, v = (y + 0.5 - cy) / hh;
                if (!Inside(label, u, v))
                {
                    continue;
                }

                bool alternate = texture switch
                {
                    1 => ((int)((x + y) / period) & 1) == 1,
                    2 => ((((int)(x / period)) + ((int)(y / period))) & 1) == 1,
                    _ => false,
                };
                Set(pixels, size, x, y, alternate ? second : colour);
            }
        }
    }

    private static bool Inside(int label, double u, double v) => label switch
    {
        0 => true,
        1 => u * u + v * v <= 1,
        2 => Math.Abs(u) <= (v + 1) / 2,
        3 => Math.Abs(u) <= 0.34 || Math.Abs(v) <= 0.34,
        _ => u * u + v * v <= 1 && u * u + v * v >= 0.3,
    };

    private static double[] RandomColour(Random random, double low, double high)
        => new[] { low + (high - low) * random.NextDouble(), low + (high - low) * random.NextDouble(), low + (high - low) * random.NextDouble() };

    private static void Set(float[] pixels, int size, int x, int y, double[] colour)
    {
        if (x < 0 || y < 0 || x >= size || y >= size)
        {
            return;
        }

        for (int c = 0; c < 3; c++)
        {
            pixels[(c * size + y) * size + x] = (float)Math.Clamp(colour[c], 0, 1);
        }
    }

    private static double Iou(float[] a, float[] b)
    {
        double iw = Math.Max(0, Math.Min(a[2], b[2]) - Math.Max(a[0], b[0]));
        double ih = Math.Max(0, Math.Min(a[3], b[3]) - Math.Max(a[1], b[1]));
        double inter = iw * ih;
        double union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
        return union <= 0 ? 0 : inter / union;
    }
}
