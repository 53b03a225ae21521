using static TorchSharp.torch;

namespace DeFeat.Losses.Masks;

/// <summary>
/// The GT boxes of a whole batch, concatenated image after image, as handed to a mask rule by
/// <see cref="ObjectMaskBuilder.Build"/>. Its tensors live in that call's dispose scope: a rule may read them
/// while it builds its masks, but must not keep them.
/// </summary>
public sealed class GroundTruthBatch
{
    internal GroundTruthBatch(Tensor boxes, Tensor imageIndex, IReadOnlyList<long> boxCounts)
    {
        Boxes = boxes;
        ImageIndex = imageIndex;
        BoxCounts = boxCounts;
    }

    /// <summary>
    /// [N, 4] float64 boxes (x1, y1, x2, y2) in input-image pixels, detached from any graph; N = Σ_i N_i over the
    /// images, image 0's boxes first. N may be 0.
    /// </summary>
    public Tensor Boxes { get; }

    /// <summary>[N] int64: the image (0 ≤ b &lt; <see cref="ImageCount"/>) each row of <see cref="Boxes"/> belongs to.</summary>
    public Tensor ImageIndex { get; }

    /// <summary>N_i, the number of boxes of each image (known on the host from the tensor shapes; B entries).</summary>
    public IReadOnlyList<long> BoxCounts { get; }

    /// <summary>B, the number of images in the batch (images without boxes included).</summary>
    public int ImageCount => BoxCounts.Count;

    /// <summary>The device of the boxes; masks are built there.</summary>
    public Device Device => Boxes.device;
}
