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
/// size selects; tinted per level: P2 red, P3 yellow, P4 green, P5 blue, P6 violet; background darkened), then each model's detections (score ≥ 0.3) over the GT.
/// </summary>
public static class DetectionPicture
{
    private const int Scale = 2;
    private const float MinimumScore = 0.3f;
    private static readonly SKColor[] LevelColours = { new(255, 80, 80), new(255, 200, 0), new(80, 220, 80), new(80, 160, 255), new(200, 80, 255) };

    public static void Save(string path, DetectionDataset data, IReadOnlyList<(string Name, FasterRcnn Model)> models, int images, Device device)
    {
        images = Math.Min(images, data.Count);
        int size = data.ImageSize * Scale;
        using var bitmap = new SKBitmap((1 + models.Count) * size, images * size + 20);
        using var canvas = new SKCanvas(bitmap);
        canvas.Clear(SKColors.Black);
        using var font = new SKFont(SKTypeface.Default, 14);
        using var text = new SKPaint { Color = SKColors.White, IsAntialias = true };
        canvas.DrawText("DeFeat object mask", 4, 15, font, text);
        for (int m = 0; m < models.Count; m++)
        {
            canvas.DrawText($"{models[m].Name}", (m + 1) * size + 4, 15, font, text);
        }

        var samples = data.Samples.Take(images).ToList();
        using var batch = DetectionBatch.Collate(samples, device);
        var masks = LevelMasks(batch, data.ImageSize);
        var detections = models.Select(m =>
        {
            m.Model.to(device).eval();
            return m.Model.Detect(batch.Images, 0);
        }).ToList();
        for (int i = 0; i < images; i++)
        {
            int top = 20 + i * size;
            using var image = ToBitmap(samples[i], masks[i]);
            for (int column = 0; column <= models.Count; column++)
            {
                var target = new SKRect(column * size, top, (column + 1) * size, top + size);
                canvas.DrawBitmap(column == 0 ? image.Masked : image.Plain, target);
                if (column == 0)
                {
                    continue;
                }

                using var gtPaint = new SKPaint { Color = SKColors.White, Style = SKPaintStyle.Stroke, StrokeWidth = 1 };
                for (int k = 0; k < samples[i].ObjectCount; k++)
                {
                    canvas.DrawRect(Rect(samples[i].Boxes[(k * 4)..(k * 4 + 4)], target), gtPaint);
                }

                using var detectionPaint = new SKPaint { Color = SKColors.Lime, Style = SKPaintStyle.Stroke, StrokeWidth = 2 };
                using var label = new SKPaint { Color = SKColors.Lime, IsAntialias = true };
                foreach (var d in detections[column - 1].Where(d => d.ImageIndex == i && d.Score >= MinimumScore))
                {
                    var rect = Rect(d.Box, target);
                    canvas.DrawRect(rect, detectionPaint);
                    canvas.DrawText($"{data.ClassNames[d.Label]} {d.Score:F2}", rect.Left + 2, rect.Top + 13, font, label);
                }
            }
        }

        using var png = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, png.ToArray());
    }

    /// <summary>Per image, the level index (0..4) marking each pixel, or −1 for background.</summary>
    private static int[][] LevelMasks(DetectionBatch batch, int imageSize)
    {
        var strides = DetectorConfig.Strides;
        var sizes = strides.Select(s => new FeatureMapSize((imageSize + s - 1) / s, (imageSize + s - 1) / s)).ToArray();
        var levels = new DeFeatMaskBuilder().Build(batch.Boxes, sizes, strides.Select(s => (double)s).ToArray());
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
