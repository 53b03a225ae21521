using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Platform;

/// <summary>The settings of one 2-D convolution that decide which CPU kernel libtorch runs, and a float32-vs-float64 trial of it.</summary>
internal sealed record ConvolutionShape(long InChannels, long OutChannels, long KernelHeight, long KernelWidth, long Stride, long Padding, long Dilation, long Groups)
{
    /// <summary>The settings of <paramref name="convolution"/> (a square stride, padding and dilation; "same" padding as its numbers).</summary>
    public static ConvolutionShape Of(TorchSharp.Modules.Conv2d convolution)
    {
        var kernel = convolution.kernel_size;
        var dilation = convolution.dilation[0];
        var padding = convolution.padding is { Length: > 0 } numbers
            ? numbers[0]
            : convolution.padding_type == TorchSharp.Padding.Same ? dilation * (kernel[0] - 1) / 2 : 0;
        return new ConvolutionShape(
            convolution.in_channels, convolution.out_channels, kernel[0], kernel[^1], convolution.stride[0], padding, dilation, convolution.groups);
    }

    /// <summary>
    /// The largest normwise relative error (max |Δ| / max |reference|) of the float32 output, input gradient and weight
    /// gradient against float64 on random [2, C_in, S, S] data of seed <paramref name="seed"/>; +∞ when not finite.
    /// </summary>
    public double Error(ulong seed)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(seed);
        var size = Math.Max(8, (Dilation * (Math.Max(KernelHeight, KernelWidth) - 1)) + 1 + Stride - (2 * Padding));
        var x64 = randn([2, InChannels, size, size], dtype: float64, generator: generator);
        var w64 = randn([OutChannels, InChannels / Groups, KernelHeight, KernelWidth], dtype: float64, generator: generator);
        var (x32, w32) = (x64.to(float32).requires_grad_(), w64.to(float32).requires_grad_());
        var y32 = nn.functional.conv2d(x32, w32, strides: [Stride, Stride], padding: [Padding, Padding], dilation: [Dilation, Dilation], groups: Groups);
        var g64 = randn(y32.shape, dtype: float64, generator: generator);
        y32.mul(g64.to(float32)).sum().backward();
        var (x, w) = (x32.detach().to(float64).requires_grad_(), w32.detach().to(float64).requires_grad_());
        var y = nn.functional.conv2d(x, w, strides: [Stride, Stride], padding: [Padding, Padding], dilation: [Dilation, Dilation], groups: Groups);
        y.mul(g64).sum().backward();
        return new[] { RelativeError(y32, y), RelativeError(x32.grad!, x.grad!), RelativeError(w32.grad!, w.grad!) }
            .Select(error => double.IsFinite(error) ? error : double.PositiveInfinity)
            .Max();
    }

    /// <inheritdoc />
    public override string ToString()
        => $"{InChannels} → {OutChannels} channels, {KernelHeight}×{KernelWidth}, stride {Stride}, padding {Padding}"
           + (Dilation == 1 ? "" : $", dilation {Dilation}") + (Groups == 1 ? "" : $", groups {Groups}");

    /// <summary>
    /// max |got − reference| / max |reference| (a host read: start-up checks only); NaN or +∞ when <paramref name="got"/>
    /// is not finite.
    /// </summary>
    public static double RelativeError(Tensor got, Tensor reference)
        => got.to(float64).sub(reference).abs().max().item<double>() / Math.Max(reference.abs().max().item<double>(), double.Epsilon);
}
