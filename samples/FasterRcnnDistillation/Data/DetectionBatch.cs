using TorchSharp;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Data;

/// <summary>
/// A collated batch: images [B, 3, H, W] float32 in [0, 1]; per image GT boxes [N_i, 4] float32 (xyxy pixels) and
/// labels [N_i] int64.
/// </summary>
public sealed class DetectionBatch : IDisposable
{
    private DetectionBatch(Tensor images, Tensor[] boxes, Tensor[] labels)
    {
        Images = images;
        Boxes = boxes;
        Labels = labels;
    }

    public Tensor Images { get; }

    public IReadOnlyList<Tensor> Boxes { get; }

    public IReadOnlyList<Tensor> Labels { get; }

    public static DetectionBatch Collate(IReadOnlyList<DetectionSample> samples, Device device)
    {
        int height = samples[0].Height, width = samples[0].Width;
        var pixels = new float[samples.Count * 3 * height * width];
        for (int i = 0; i < samples.Count; i++)
        {
            samples[i].Pixels.CopyTo(pixels, i * 3 * height * width);
        }

        var images = tensor(pixels, new long[] { samples.Count, 3, height, width }).to(device).DetachFromDisposeScope();
        var boxes = samples
            .Select(s => tensor(s.Boxes, new long[] { s.ObjectCount, 4 }).to(device).DetachFromDisposeScope())
            .ToArray();
        var labels = samples
            .Select(s => tensor(s.Labels, new long[] { s.ObjectCount }).to(device).DetachFromDisposeScope())
            .ToArray();
        return new DetectionBatch(images, boxes, labels);
    }

    public void Dispose()
    {
        Images.Dispose();
        foreach (var t in Boxes.Concat(Labels))
        {
            t.Dispose();
        }
    }
}
