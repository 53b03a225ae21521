namespace DeFeat.Losses.Platform;

/// <summary>What <see cref="CpuConvolutionCheck.Run(int)"/> (the fault's own shapes) or <see cref="CpuConvolutionCheck.Run(TorchSharp.torch.nn.Module, int)"/> (a model's convolutions) found in this process.</summary>
/// <param name="Affected">
/// True when a float32 CPU convolution gave a wrong or non-finite input gradient or output: models with k×k stride-1
/// convolutions whose output channel count is not a multiple of 16, or whose input channels are more than 16 and not a
/// multiple of 16, then train on wrong values in this process.
/// </param>
/// <param name="Trials">
/// Trials run: without a model each a [2, 8, 4, 4] → 9 convolution's input gradient and a [2, 24, 4, 4] → 16 convolution's
/// output, 3×3; for a model, its distinct convolutions × the trials per convolution.
/// </param>
/// <param name="WrongTrials">Trials where either differed from float64 by more than 1e-3 (normwise) or was not finite.</param>
/// <param name="MaximumRelativeError">Largest finite normwise relative error seen (max |Δ| / max |reference|).</param>
/// <param name="OneDnnEnabled">Whether libtorch's oneDNN (mkldnn) convolutions were enabled when the check ran.</param>
public sealed record CpuConvolutionReport(bool Affected, int Trials, int WrongTrials, double MaximumRelativeError, bool OneDnnEnabled)
{
    /// <summary>
    /// For a model's check, each wrong convolution: its first path in the model and its shape (e.g.
    /// <c>'head.cls' (8 → 9 channels, 3×3, stride 1, padding 1)</c>); empty otherwise.
    /// </summary>
    public IReadOnlyList<string> WrongConvolutions { get; init; } = [];

    /// <summary>One line for a log: whether the process is affected and, if so, what to do.</summary>
    public string Advice => Affected && WrongConvolutions.Count > 0
        ? $"CPU convolutions of this model are WRONG in this process ({string.Join(", ", WrongConvolutions)}; {WrongTrials} of {Trials} trials, "
          + $"oneDNN {(OneDnnEnabled ? "on" : "off")}): call CpuConvolutionCheck.DisableOneDnn() once at start-up, before training, or give them multiples of 16 channels."
        : Affected
        ? $"CPU convolution gradients are WRONG in this process ({WrongTrials} of {Trials} trials; libtorch's oneDNN 3×3 backward, "
          + "output channels not a multiple of 16, or more than 16 input channels not a multiple of 16): call CpuConvolutionCheck.DisableOneDnn() once at start-up, before training "
          + "(or give such convolutions multiples of 16 channels). DeFeat's own adaptation layers are safe either way."
        : $"CPU convolution gradients are correct in this process ({Trials} trials, oneDNN {(OneDnnEnabled ? "on" : "off")}).";
}
