namespace DeFeat.Losses.Platform;

/// <summary>What <see cref="CpuConvolutionCheck.Run"/> found in this process.</summary>
/// <param name="Affected">
/// True when a float32 CPU convolution gave a wrong or non-finite input gradient or output: models with k×k stride-1
/// convolutions whose output channel count is not a multiple of 16, or whose input channels are more than 16 and not a
/// multiple of 16, then train on wrong values in this process.
/// </param>
/// <param name="Trials">Trials run (each a [2, 8, 4, 4] → 9 convolution's input gradient and a [2, 24, 4, 4] → 16 convolution's output, 3×3).</param>
/// <param name="WrongTrials">Trials where either differed from float64 by more than 1e-3 (normwise) or was not finite.</param>
/// <param name="MaximumRelativeError">Largest finite normwise relative error seen (max |Δ| / max |reference|).</param>
/// <param name="OneDnnEnabled">Whether libtorch's oneDNN (mkldnn) convolutions were enabled when the check ran.</param>
public sealed record CpuConvolutionReport(bool Affected, int Trials, int WrongTrials, double MaximumRelativeError, bool OneDnnEnabled)
{
    /// <summary>One line for a log: whether the process is affected and, if so, what to do.</summary>
    public string Advice => Affected
        ? $"CPU convolution gradients are WRONG in this process ({WrongTrials} of {Trials} trials; libtorch's oneDNN 3×3 backward, "
          + "output channels not a multiple of 16, or more than 16 input channels not a multiple of 16): call CpuConvolutionCheck.DisableOneDnn() once at start-up, before training "
          + "(or give such convolutions multiples of 16 channels). DeFeat's own adaptation layers are safe either way."
        : $"CPU convolution gradients are correct in this process ({Trials} trials, oneDNN {(OneDnnEnabled ? "on" : "off")}).";
}
