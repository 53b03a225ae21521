using DeFeat.Losses.Masks;
using FasterRcnnDistillation.Data;
using FasterRcnnDistillation.Evaluation;
using FasterRcnnDistillation.Model;
using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Reporting;

/// <summary>
/// A PNG with one row per validation image: the image with DeFeat's object mask (each GT box marks the FPN level its
/// size selects, tinted per level; background darkened), then each model's detections with score ≥ 0.3 over the GT
/// (white), coloured by class, each labelled with its score. A tile with no detection ≥ 0.3 shows the model's best
/// detection dashed, with its score. A key at the bottom names the class colours and the level colours.
/// </summary>
public static class DetectionPicture
{
    private const int Scale = 3;
    private const int Header = 24;
    private const int KeyHeight = 48;
    private const float MinimumScore = 0.3f;
    private static readonly SKColor[] LevelColours = { new(255, 80, 80), new(255, 200, 0), new(80, 220, 80), new(80, 160, 255), new(200, 80, 255) };
    private static readonly SKColor[] ClassColours =
    {
        new(0, 220, 255), new(255, 70, 200), new(140, 255, 60), new(255, 150, 0), new(255, 245, 80),
        new(170, 120, 255), new(255, 90, 90), new(60, 255, 190), new(200, 200, 200), new(255, 190, 150),
    };

    /// <summary>
    /// Draws <paramref name="images"/> val images; <paramref name="maskCanonicalSize"/> is the canonical size (px) of
    /// the <see cref="DeFeatMaskBuilder"/> the distillation uses, so the mask shown is the one imitated.
    /// </summary>
    public static void Save(
        string path, DetectionDataset data, IReadOnlyList<(string Name, FasterRcnn Model)> models, int images, Device device, double maskCanonicalSize)
    {
        images = Math.Min(images, data.Count);
        int size = data.ImageSize * Scale;
        using var bitmap = new SKBitmap((1 + models.Count) * size, Header + images * size + KeyHeight);
        using var canvas = new SKCanvas(bitmap);
        canvas.Clear(SKColors.Black);
        using var font = new SKFont(SKTypeface.Default, 14);
        using var small = new SKFont(SKTypeface.Default, 12);
        using var text = new SKPaint { Color = SKColors.White, IsAntialias = true };
        canvas.DrawText("DeFeat object mask (level per box)", 4, 17, font, text);
        for (int m = 0; m < models.Count; m++)
        {
            canvas.DrawText($"{models[m].Name} (score ≥ {MinimumScore:F1})", (m + 1) * size + 4, 17, font, text);
        }

        var samples = data.Samples.Take(images).ToList();
        using var batch = DetectionBatch.Collate(samples, device);
        var masks = LevelMasks(batch, data.ImageSize, maskCanonicalSize);
        var detections = models.Select(m =>
        {
            m.Model.to(device).eval();
            return m.Model.Detect(batch.Images, 0);
        }).ToList();
        using var gtPaint = new SKPaint { Color = SKColors.White, Style = SKPaintStyle.Stroke, StrokeWidth = 1 };
        using var labelBackground = new SKPaint { Color = new SKColor(0, 0, 0, 190), Style = SKPaintStyle.Fill };
        using var dashes = SKPathEffect.CreateDash(new[] { 6f, 4f }, 0);
        for (int i = 0; i < images; i++)
        {
            int top = Header + i * size;
            using var image = ToBitmap(samples[i], masks[i]);
            for (int column = 0; column <= models.Count; column++)
            {
                var target = new SKRect(column * size, top, (column + 1) * size, top + size);
                canvas.DrawBitmap(column == 0 ? image.Masked : image.Plain, target);
                if (column == 0)
                {
                    continue;
                }

                for (int k = 0; k < samples[i].ObjectCount; k++)
                {
                    canvas.DrawRect(Rect(samples[i].Boxes[(k * 4)..(k * 4 + 4)], target), gtPaint);
                }

                var own = detections[column - 1].Where(d => d.ImageIndex == i).OrderByDescending(d => d.Score).ToList();
                var shown = own.Where(d => d.Score >= MinimumScore).ToList();
                bool fallback = shown.Count == 0 && own.Count > 0;
                if (fallback)
                {
                    shown.Add(own[0]);
                }

                foreach (var d in shown)
                {
                    var rect = Rect(d.Box, target);
                    using var paint = new SKPaint { Color = ClassColours[d.Label % ClassColours.Length], Style = SKPaintStyle.Stroke, StrokeWidth = 2, PathEffect = fallback ? dashes : null };
                    using var label = new SKPaint { Color = paint.Color, IsAntialias = true };
                    canvas.DrawRect(rect, paint);
                    string score = d.Score.ToString("F2", System.Globalization.CultureInfo.InvariantCulture);
                    float width = small.MeasureText(score);
                    float x = Math.Clamp(rect.Left, target.Left, target.Right - width - 4), y = Math.Clamp(rect.Top, target.Top + 14, target.Bottom);
                    canvas.DrawRect(new SKRect(x, y - 13, x + width + 4, y), labelBackground);
                    canvas.DrawText(score, x + 2, y - 2, small, label);
                }

                if (fallback || own.Count == 0)
                {
                    canvas.DrawRect(new SKRect(target.Left, target.Bottom - 16, target.Left + 150, target.Bottom), labelBackground);
                    canvas.DrawText(own.Count == 0 ? "no detection" : $"none ≥ {MinimumScore:F1}; best dashed", target.Left + 3, target.Bottom - 4, small, text);
                }
            }
        }

        DrawKey(canvas, data.ClassNames, Header + images * size, small);
        using var png = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, png.ToArray());
    }

    /// <summary>Two lines: the class colours (and white = GT), then the mask's level colours.</summary>
    private static void DrawKey(SKCanvas canvas, IReadOnlyList<string> classNames, int top, SKFont font)
    {
        float x = 4;
        void Entry(SKColor colour, string name, float y)
        {
            using var swatch = new SKPaint { Color = colour, Style = SKPaintStyle.Fill };
            using var label = new SKPaint { Color = SKColors.White, IsAntialias = true };
            canvas.DrawRect(new SKRect(x, y - 10, x + 12, y + 2), swatch);
            canvas.DrawText(name, x + 16, y, font, label);
            x += 16 + font.MeasureText(name) + 14;
        }

        Entry(SKColors.White, "ground truth", top + 18);
        for (int c = 0; c < Math.Min(classNames.Count, ClassColours.Length); c++)
        {
            Entry(ClassColours[c], classNames[c], top + 18);
        }

        x = 4;
        for (int l = 0; l < LevelColours.Length; l++)
        {
            Entry(LevelColours[l], $"mask on P{l + 2}", top + 40);
        }
    }

    /// <summary>Per image, the level index (0..4) marking each pixel, or −1 for background.</summary>
    private static int[][] LevelMasks(DetectionBatch batch, int imageSize, double canonicalSize)
    {
        var strides = DetectorConfig.Strides;
        var sizes = strides.Select(s => new FeatureMapSize((imageSize + s - 1) / s, (imageSize + s - 1) / s)).ToArray();
        var levels = new DeFeatMaskBuilder { CanonicalSize = canonicalSize }.Build(batch.Boxes, sizes, strides.Select(s => (double)s).ToArray());
        var result = Enumerable.Range(0, (int)batch.Images.shape[0]).Select(_ => Enumerable.Repeat(-1, imageSize * imageSize).ToArray()).ToArray();
        for (int l = 0; l < levels.Length; l++)
        {
            var cells = levels[l].cpu().data<float>().ToArray();
            int h = sizes[l].Height, w = sizes[l].Width;
            for (int b = 0; b < result.Length; b++)
            {
                for (int y = 0; y < imageSize; y++)
                {
                    for (int x = 0; x < imageSize; x++)
                    {
                        if (cells[(b * h + y / strides[l]) * w + x / strides[l]] > 0)
                        {
                            result[b][y * imageSize + x] = l;
                        }
                    }
                }
            }

            levels[l].Dispose();
        }

        return result;
    }

    private static SKRect Rect(float[] box, SKRect target)
        => new(target.Left + box[0] * Scale, target.Top + box[1] * Scale, target.Left + box[2] * Scale, target.Top + box[3] * Scale);

    private static Pair ToBitmap(DetectionSample sample, int[] levelOf)
    {
        var plain = new SKBitmap(sample.Width, sample.Height);
        var masked = new SKBitmap(sample.Width, sample.Height);
        int plane = sample.Height * sample.Width;
        for (int y = 0; y < sample.Height; y++)
        {
            for (int x = 0; x < sample.Width; x++)
            {
                int p = y * sample.Width + x;
                byte r = (byte)(255 * sample.Pixels[p]), g = (byte)(255 * sample.Pixels[plane + p]), b = (byte)(255 * sample.Pixels[2 * plane + p]);
                plain.SetPixel(x, y, new SKColor(r, g, b));
                int level = levelOf[p];
                var tint = level < 0 ? new SKColor((byte)(r / 3), (byte)(g / 3), (byte)(b / 3)) : Blend(new SKColor(r, g, b), LevelColours[level]);
                masked.SetPixel(x, y, tint);
            }
        }

        return new Pair(plain, masked);
    }

    private static SKColor Blend(SKColor a, SKColor b)
        => new((byte)((a.Red + b.Red) / 2), (byte)((a.Green + b.Green) / 2), (byte)((a.Blue + b.Blue) / 2));

    private sealed record Pair(SKBitmap Plain, SKBitmap Masked) : IDisposable
    {
        public void Dispose()
        {
            Plain.Dispose();
            Masked.Dispose();
        }
    }
}
