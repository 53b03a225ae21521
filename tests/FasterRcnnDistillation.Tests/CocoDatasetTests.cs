using FasterRcnnDistillation.Data;
using SkiaSharp;

namespace FasterRcnnDistillation.Tests;

public sealed class CocoDatasetTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("coco-test-").FullName;

    [Fact]
    public void Loads_images_boxes_and_labels_of_a_tiny_coco_set()
    {
        WritePng("a.png", 20, 10);
        WritePng("b.png", 10, 10);
        File.WriteAllText(Path.Combine(directory, "instances.json"), """
            {
              "images": [ { "id": 5, "file_name": "b.png", "width": 10, "height": 10 },
                          { "id": 2, "file_name": "a.png", "width": 20, "height": 10 } ],
              "categories": [ { "id": 7, "name": "seven" }, { "id": 3, "name": "three" } ],
              "annotations": [
                { "id": 1, "image_id": 2, "category_id": 7, "bbox": [2, 1, 2, 2], "iscrowd": 0 },
                { "id": 2, "image_id": 2, "category_id": 3, "bbox": [10, 0, 5, 4] },
                { "id": 3, "image_id": 2, "category_id": 3, "bbox": [0, 0, 5, 5], "iscrowd": 1 },
                { "id": 4, "image_id": 2, "category_id": 3, "bbox": [0, 0, 0.5, 5] }
              ]
            }
            """);

        var data = CocoDataset.Load(Path.Combine(directory, "instances.json"), directory, targetSize: 40);

        // Categories in id order: 3 → label 0, 7 → label 1. Images in id order: a.png (id 2) first.
        data.ClassNames.Should().Equal("three", "seven");
        data.Count.Should().Be(2);
        var first = data.Samples[0];
        first.Height.Should().Be(40);
        first.Width.Should().Be(40);
        // Scale 40 / 20 = 2; the crowd box and the half-pixel-wide box are skipped.
        first.Labels.Should().Equal(1L, 0L);
        first.Boxes.Should().Equal(4f, 2f, 8f, 6f, 20f, 0f, 30f, 8f);
        Pixel(first, x: 5, y: 5).Should().Equal(1f, 0f, 0f);
        Pixel(first, x: 35, y: 15).Should().Equal(0f, 0f, 1f);
        Pixel(first, x: 5, y: 30).Should().Equal(0f, 0f, 0f); // bottom padding
        data.Samples[1].ObjectCount.Should().Be(0);
    }

    [Fact]
    public void An_undecodable_image_is_reported_by_path()
    {
        File.WriteAllText(Path.Combine(directory, "bad.png"), "not an image");
        File.WriteAllText(Path.Combine(directory, "instances.json"), """
            { "images": [ { "id": 1, "file_name": "bad.png" } ], "categories": [], "annotations": [] }
            """);

        var load = () => CocoDataset.Load(Path.Combine(directory, "instances.json"), directory, 32);

        load.Should().Throw<InvalidDataException>().WithMessage("*bad.png*");
    }

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private static float[] Pixel(DetectionSample sample, int x, int y)
        => Enumerable.Range(0, 3).Select(c => sample.Pixels[(c * sample.Height + y) * sample.Width + x]).ToArray();

    /// <summary>Left half red, right half blue.</summary>
    private void WritePng(string name, int width, int height)
    {
        using var bitmap = new SKBitmap(width, height);
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                bitmap.SetPixel(x, y, x < width / 2 ? SKColors.Red : SKColors.Blue);
            }
        }

        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(Path.Combine(directory, name), data.ToArray());
    }
}
