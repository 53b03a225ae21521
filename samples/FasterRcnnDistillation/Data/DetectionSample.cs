namespace FasterRcnnDistillation.Data;

/// <summary>
/// One image with its ground truth. <paramref name="Pixels"/> is channel-major RGB [3, H, W] in [0, 1];
/// <paramref name="Boxes"/> holds N boxes as x1, y1, x2, y2 in pixels (length 4N); <paramref name="Labels"/> the
/// N class indices in [0, K).
/// </summary>
public sealed record DetectionSample(float[] Pixels, int Height, int Width, float[] Boxes, long[] Labels)
{
    /// <summary>Number of ground-truth objects.</summary>
    public int ObjectCount => Labels.Length;
}
