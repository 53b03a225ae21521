using static TorchSharp.torch;

namespace FasterRcnnDistillation.Model;

/// <summary>
/// Sampled RoIs of a batch: rois [R, 5] (batch index, x1, y1, x2, y2 pixels), labels [R] int64 in [0, K] with K the
/// background.
/// </summary>
public sealed record RoiTargets(Tensor Rois, Tensor Labels);
