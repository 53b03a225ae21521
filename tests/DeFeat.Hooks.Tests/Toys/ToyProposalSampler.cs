using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Toys;

/// <summary>A seeded random "RPN + sampler": R RoIs per image inside the image and a label in [0, K] for each.</summary>
public sealed class ToyProposalSampler(long seed, int perImage, long classes)
{
    private readonly Generator generator = new((ulong)seed);

    public (Tensor Rois, Tensor Labels) Sample(long batch, long height, long width)
    {
        var count = batch * perImage;
        var corner = torch.rand([count, 2], generator: generator) * torch.tensor(new float[] { width / 2f, height / 2f });
        var size = 2 + (torch.rand([count, 2], generator: generator) * torch.tensor(new float[] { width / 2f, height / 2f }));
        var batchIndex = torch.arange(batch, ScalarType.Float32).repeat_interleave(perImage).unsqueeze(1);
        var rois = torch.cat([batchIndex, corner, corner + size], 1);
        var labels = torch.randint(0, classes + 1, [count], generator: generator, dtype: ScalarType.Int64);
        return (rois, labels);
    }
}
