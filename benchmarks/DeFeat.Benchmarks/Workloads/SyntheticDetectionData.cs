using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Benchmarks.Workloads;

/// <summary>Deterministic synthetic inputs: neck features, GT boxes and RoI-head logits of realistic sizes.</summary>
internal static class SyntheticDetectionData
{
    /// <summary>
    /// B images × <paramref name="boxesPerImage"/> xyxy boxes in pixels, inside the (unpadded) image: square-root area
    /// log-uniform in [16, 1000] px (so every level P2–P6 is hit), aspect ratio h/w in [0.5, 2]. Each is [N, 4] float32.
    /// </summary>
    public static Tensor[] GroundTruthBoxes(FpnShape shape, int batch, int boxesPerImage, Device device, int seed = 7)
    {
        var random = new Random(seed);
        var images = new Tensor[batch];
        for (var image = 0; image < batch; image++)
        {
            var coordinates = new float[boxesPerImage * 4];
            for (var box = 0; box < boxesPerImage; box++)
            {
                var side = Math.Exp(Math.Log(16.0) + (random.NextDouble() * (Math.Log(1000.0) - Math.Log(16.0))));
                var aspect = Math.Exp(Math.Log(0.5) + (random.NextDouble() * (Math.Log(2.0) - Math.Log(0.5))));
                var width = Math.Min(side / Math.Sqrt(aspect), shape.ImageWidth - 1.0);
                var height = Math.Min(side * Math.Sqrt(aspect), shape.ImageHeight - 1.0);
                var x1 = random.NextDouble() * (shape.ImageWidth - width);
                var y1 = random.NextDouble() * (shape.ImageHeight - height);
                coordinates[(box * 4) + 0] = (float)x1;
                coordinates[(box * 4) + 1] = (float)y1;
                coordinates[(box * 4) + 2] = (float)(x1 + width);
                coordinates[(box * 4) + 3] = (float)(y1 + height);
            }

            images[image] = tensor(coordinates, [boxesPerImage, 4]).to(device);
        }

        return images;
    }

    /// <summary>One [B, C, H_l, W_l] float32 standard-normal feature map per level.</summary>
    public static Tensor[] NeckFeatures(FpnShape shape, int batch, Device device, int seed)
    {
        var generator = new Generator((ulong)seed);
        return [.. shape.Levels.Select(size =>
            randn([batch, shape.Channels, size.Height, size.Width], generator: generator).to(device))];
    }

    /// <summary>
    /// RoI-head classification logits of student and teacher, [R, K+1] float32 each, and labels [R] int64 with the
    /// mmdetection sampler's 25 % positives (a class in [0, K)) and 75 % background (index K), shuffled.
    /// </summary>
    public static (Tensor Student, Tensor Teacher, Tensor Labels) ProposalLogits(
        int rois, int objectClasses, Device device, int seed = 11)
    {
        var generator = new Generator((ulong)seed);
        var student = (randn([rois, objectClasses + 1], generator: generator) * 2.0).to(device);
        var teacher = (randn([rois, objectClasses + 1], generator: generator) * 2.0).to(device);
        var positives = rois / 4;
        var labels = cat([
            randint(0, objectClasses, [positives], dtype: ScalarType.Int64, generator: generator),
            full([rois - positives], objectClasses, dtype: ScalarType.Int64)]);
        var shuffled = labels[randperm(rois, generator: generator)].to(device);
        return (student, teacher, shuffled);
    }
}
