using System.Text.Json;
using SkiaSharp;

namespace FasterRcnnDistillation.Data;

/// <summary>
/// Loads a COCO-format detection set (an instances JSON and an image folder). Each image is decoded with SkiaSharp,
/// resized so its longer side equals the target size (aspect kept) and padded bottom-right to a square; boxes are
/// scaled alike. Category ids are mapped to contiguous labels in ascending id order; crowd annotations and boxes
/// thinner than one pixel are skipped.
/// </summary>
public static class CocoDataset
{
    public static DetectionDataset Load(string annotationFile, string imageDirectory, int targetSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(targetSize, 1);
        using var document = JsonDocument.Parse(File.ReadAllText(annotationFile));
        var root = document.RootElement;
        var categories = root.GetProperty("categories").EnumerateArray()
            .Select(c => (Id: c.GetProperty("id").GetInt64(), Name: c.GetProperty("name").GetString() ?? string.Empty))
            .OrderBy(c => c.Id)
            .ToList();
        var labelOf = categories.Select((c, i) => (c.Id, Label: (long)i)).ToDictionary(p => p.Id, p => p.Label);

        var annotations = root.TryGetProperty("annotations", out var annotationArray)
            ? annotationArray.EnumerateArray().ToList()
            : new List<JsonElement>();
        var byImage = annotations
            .Where(a => !(a.TryGetProperty("iscrowd", out var crowd) && crowd.GetInt32() != 0))
            .GroupBy(a => a.GetProperty("image_id").GetInt64())
            .ToDictionary(g => g.Key, g => g.ToList());

        var samples = new List<DetectionSample>();
        foreach (var image in root.GetProperty("images").EnumerateArray().OrderBy(i => i.GetProperty("id").GetInt64()))
        {
            long id = image.GetProperty("id").GetInt64();
            string path = Path.Combine(imageDirectory, image.GetProperty("file_name").GetString() ?? string.Empty);
            samples.Add(LoadImage(path, byImage.GetValueOrDefault(id) ?? new List<JsonElement>(), labelOf, targetSize));
        }

        return new DetectionDataset(categories.Select(c => c.Name).ToArray(), samples);
    }

    private static DetectionSample LoadImage(
        string path, List<JsonElement> annotations, Dictionary<long, long> labelOf, int targetSize)
    {
        using var decoded = SKBitmap.Decode(path)
            ?? throw new InvalidDataException($"Cannot decode image '{path}'.");
        double scale = (double)targetSize / Math.Max(decoded.Width, decoded.Height);
        int width = Math.Max(1, (int)Math.Round(decoded.Width * scale));
        int height = Math.Max(1, (int)Math.Round(decoded.Height * scale));
        using var resized = decoded.Resize(new SKImageInfo(width, height), new SKSamplingOptions(SKFilterMode.Linear));
        var pixels = new float[3 * targetSize * targetSize];
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                var colour = resized.GetPixel(x, y);
                pixels[(0 * targetSize + y) * targetSize + x] = colour.Red / 255f;
                pixels[(1 * targetSize + y) * targetSize + x] = colour.Green / 255f;
                pixels[(2 * targetSize + y) * targetSize + x] = colour.Blue / 255f;
            }
        }

        var boxes = new List<float>();
        var labels = new List<long>();
        foreach (var annotation in annotations)
        {
            var bbox = annotation.GetProperty("bbox").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            if (bbox.Length != 4 || bbox[2] < 1 || bbox[3] < 1)
            {
                continue;
            }

            boxes.AddRange(new[]
            {
                (float)(bbox[0] * scale), (float)(bbox[1] * scale),
                (float)((bbox[0] + bbox[2]) * scale), (float)((bbox[1] + bbox[3]) * scale),
            });
            labels.Add(labelOf[annotation.GetProperty("category_id").GetInt64()]);
        }

        return new DetectionSample(pixels, targetSize, targetSize, boxes.ToArray(), labels.ToArray());
    }
}
