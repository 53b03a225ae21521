using DeFeat.Hooks.Distillation;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Terms;

/// <summary>What a term gets for one step of the distiller, besides what its taps recorded.</summary>
/// <param name="GtBoxes">One [N_i, 4] (x1, y1, x2, y2) tensor of GT boxes per image, in input pixels.</param>
/// <param name="ImageSize">The input batch's (padded) size in pixels.</param>
internal sealed record TermStep(IReadOnlyList<Tensor> GtBoxes, ImageSize ImageSize);
