using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DeFeat.Losses.Adaptation;

/// <summary>
/// DeFeat's adaptation layer for one feature level: a single 3×3 convolution (padding 1, stride 1, with bias, no
/// activation) that maps a student feature map [B, C_s, H, W] to the teacher's channel count [B, C_t, H, W], so the
/// student can imitate a teacher of another width. The spatial size is unchanged.
/// </summary>
/// <remarks>
/// <para>
/// Initialisation follows the official code: the weight is drawn from N(0, 1), reduced with fmod(2) (so every value
/// lies in (−2, 2)) and multiplied by 1e-4, i.e. a tiny near-Gaussian weight with standard deviation ≈ 0.87e-4 and
/// |w| &lt; 2e-4; the bias keeps TorchSharp's default initialisation (uniform in ±1/√(9·C_s)).
/// </para>
/// <para>
/// The layer is trained together with the student: pass its parameters (or those of the
/// <see cref="FeatureAdapters"/> / <see cref="Features.DecoupledFeatureLoss"/> that owns it) to the student's optimiser.
/// It is only needed for distillation and is dropped at inference.
/// </para>
/// <para>
/// CPU convolution fault: libtorch's oneDNN returns wrong input gradients for a 3×3 stride-1 convolution on x86 CPUs
/// when the output channels are not a multiple of 16 (AVX-512) or 8 (AVX2), e.g. 3→4, 8→9 or 5→12, and wrong outputs
/// for more than 16 input channels that are not a multiple of 16, e.g. 24→8 (docs/cpu-convolution-nan.md). On the CPU,
/// outside float64, this layer therefore computes such a convolution with its input, weight and bias zero-padded to
/// the next multiples of 16 input and output channels and the extra output channels cut off again: the same values and
/// gradients, from the same parameters (<c>state_dict</c> keeps weight [C_t, C_s, 3, 3] and bias
/// [C_t]). Other convolutions of a model are not covered: see <see cref="Platform.CpuConvolutionCheck"/>.
/// </para>
/// <para>
/// Mixed precision: an input whose dtype differs from the layer's parameters (e.g. a float16 or bfloat16 student
/// feature going into float32 adapters) is cast to the parameters' dtype first instead of failing with a dtype
/// mismatch; the output has the parameters' dtype.
/// </para>
/// </remarks>
public sealed class AdaptationConv : nn.Module<Tensor, Tensor>
{
    private const double InitialWeightScale = 1e-4;

    private readonly Conv2d conv;

    /// <summary>
    /// Creates the adaptation convolution with the official initialisation, on <paramref name="device"/> in
    /// <paramref name="dtype"/> (as TorchSharp's own modules take them: the parameters are created and initialised
    /// there, with no CPU float32 copy first).
    /// </summary>
    /// <param name="inChannels">Student channels C_s of this level; &gt; 0.</param>
    /// <param name="outChannels">Teacher channels C_t of this level; &gt; 0.</param>
    /// <param name="device">The parameters' device; null = the CPU (or TorchSharp's default device).</param>
    /// <param name="dtype">The parameters' floating dtype; null = float32 (or TorchSharp's default dtype).</param>
    /// <exception cref="ArgumentOutOfRangeException">A channel count is ≤ 0.</exception>
    /// <exception cref="ArgumentException"><paramref name="dtype"/> is not a floating-point dtype.</exception>
    public AdaptationConv(long inChannels, long outChannels, Device? device = null, ScalarType? dtype = null)
        : base(nameof(AdaptationConv))
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outChannels);
        InChannels = inChannels;
        OutChannels = outChannels;
        if (dtype is { } requested && !torch.is_floating_point(requested))
        {
            throw new ArgumentException($"{nameof(dtype)} must be a floating-point dtype; got {requested}.", nameof(dtype));
        }

        conv = nn.Conv2d(inChannels, outChannels, kernel_size: 3, stride: 1, padding: 1, bias: true, device: device, dtype: dtype);
        using (torch.no_grad())
        {
            using var scale = InitialWeightScale.ToScalar();
            conv.weight!.normal_(0.0, 1.0).fmod_(Scalars.TwoDouble).mul_(scale);
        }

        RegisterComponents();
    }

    /// <summary>Input (student) channels C_s.</summary>
    public long InChannels { get; }

    /// <summary>Output (teacher) channels C_t.</summary>
    public long OutChannels { get; }

    /// <summary>The convolution weight, [C_t, C_s, 3, 3].</summary>
    public Parameter Weight => conv.weight!;

    /// <summary>The convolution bias, [C_t].</summary>
    public Parameter Bias => conv.bias!;

    /// <summary>Adapts a student feature map.</summary>
    /// <param name="input">Student features [B, C_s, H, W], any floating dtype, on the layer's device.</param>
    /// <returns>Adapted features [B, C_t, H, W] in the layer's parameter dtype.</returns>
    /// <exception cref="ArgumentException">
    /// <paramref name="input"/> is not a 4-D floating-point tensor with C_s channels on the layer's device.
    /// </exception>
    public override Tensor forward(Tensor input)
    {
        Validate(input, nameof(input));
        var weight = conv.weight!;
        var converted = input.dtype == weight.dtype ? input : input.to_type(weight.dtype);
        if (!NeedsPaddedChannels(weight))
        {
            return conv.call(converted);
        }

        // Same result as conv.call: the input gets zero channels, the weight and bias zero rows and columns, up to multiples
        // of 16 input and output channels (functionally, so the gradients still reach the real parameters and the real
        // input, and state_dict is unchanged), and the extra output channels are cut off again. The extra input channels
        // are zero and the extra output channels' upstream gradient is zero, so they add nothing to y, dL/dx or dL/dw.
        using var scope = torch.NewDisposeScope();
        var extraIn = PaddedChannels(InChannels) - InChannels;
        var extraOut = PaddedChannels(OutChannels) - OutChannels;
        var paddedInput = converted;
        var paddedWeight = weight.alias();
        if (extraIn > 0)
        {
            paddedInput = torch.cat([converted, torch.zeros([converted.shape[0], extraIn, converted.shape[2], converted.shape[3]], weight.dtype, weight.device)], 1);
            paddedWeight = torch.cat([paddedWeight, torch.zeros([OutChannels, extraIn, 3, 3], weight.dtype, weight.device)], 1);
        }

        var paddedBias = conv.bias!.alias();
        if (extraOut > 0)
        {
            paddedWeight = torch.cat([paddedWeight, torch.zeros([extraOut, InChannels + extraIn, 3, 3], weight.dtype, weight.device)], 0);
            paddedBias = torch.cat([paddedBias, torch.zeros([extraOut], weight.dtype, weight.device)], 0);
        }

        var output = nn.functional.conv2d(paddedInput, paddedWeight, paddedBias, strides: [1, 1], padding: [1, 1]);
        return (extraOut > 0 ? output.narrow(1, 0, OutChannels) : output).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The channel multiple that avoids libtorch's oneDNN fault on x86 CPUs (docs/cpu-convolution-nan.md): a float32 3×3
    /// stride-1 convolution's backward returns wrong input gradients (relative error up to 1, sometimes NaN) when the
    /// output channels are not a multiple of the SIMD width in floats (16 with AVX-512, 8 with AVX2), and its forward
    /// returns wrong outputs when there are more than 16 input channels and they are not a multiple of 16. Convolutions
    /// whose input and output channels are both multiples of 16 were correct in every measurement.
    /// </summary>
    internal const long SafeChannelMultiple = 16;

    /// <summary>
    /// Whether forward pads the channels: on the CPU, for every dtype but float64 (libtorch's float64 convolutions do not
    /// use oneDNN), when C_s or C_t is not a multiple of <see cref="SafeChannelMultiple"/>. On a GPU, in float64 and for
    /// C_s, C_t in 16, 32, …, 256 forward is the plain convolution.
    /// </summary>
    internal bool NeedsPaddedChannels(Tensor weight) =>
        (InChannels % SafeChannelMultiple != 0 || OutChannels % SafeChannelMultiple != 0)
        && weight.device_type == DeviceType.CPU && weight.dtype != ScalarType.Float64;

    /// <summary>A channel count rounded up to a multiple of <see cref="SafeChannelMultiple"/>.</summary>
    internal static long PaddedChannels(long channels) =>
        (channels + SafeChannelMultiple - 1) / SafeChannelMultiple * SafeChannelMultiple;

    /// <summary>Checks that <paramref name="input"/> fits this layer (metadata only, no host synchronisation).</summary>
    internal void Validate(Tensor input, string name)
    {
        Guard.NotNull(input, name);
        Guard.Rank(input, 4, name, "[B, C, H, W]");
        Guard.FloatingPoint(input, name);
        if (input.shape[1] != InChannels)
        {
            throw new ArgumentException(
                $"{name} must have {InChannels} channels (the adaptation layer's input channels); got shape {Guard.Shape(input)}.",
                name);
        }

        Guard.SameDevice(input, conv.weight!.device, name);
    }
}
