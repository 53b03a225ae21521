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
/// Mixed precision: an input whose dtype differs from the layer's parameters (e.g. a float16 or bfloat16 student
/// feature going into float32 adapters) is cast to the parameters' dtype first instead of failing with a dtype
/// mismatch; the output has the parameters' dtype.
/// </para>
/// <para>
/// CPU: libtorch 2.10's oneDNN convolution backward returns wrong (sometimes NaN) input gradients for 3×3 stride-1
/// convolutions whose output channel count is not a multiple of 16 (docs/cpu-convolution-nan.md). On the CPU, for such a
/// C_t, the layer convolves with zero filters appended up to the next multiple of 16 and drops their outputs: the output
/// and every gradient are those of the C_t-channel convolution, computed outside the faulty kernels. The parameters keep
/// their shapes ([C_t, C_s, 3, 3] and [C_t]), so saved states load unchanged.
/// </para>
/// </remarks>
public sealed class AdaptationConv : nn.Module<Tensor, Tensor>
{
    private const double InitialWeightScale = 1e-4;

    /// <summary>The output-channel block below which oneDNN's CPU backward is wrong: the AVX-512 float32 vector width.</summary>
    private const long SafeOutputBlock = 16;

    private readonly Conv2d conv;

    /// <summary>Creates the adaptation convolution with the official initialisation, on the CPU in float32.</summary>
    /// <param name="inChannels">Student channels C_s of this level; &gt; 0.</param>
    /// <param name="outChannels">Teacher channels C_t of this level; &gt; 0.</param>
    /// <exception cref="ArgumentOutOfRangeException">A channel count is ≤ 0.</exception>
    public AdaptationConv(long inChannels, long outChannels)
        : base(nameof(AdaptationConv))
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outChannels);
        InChannels = inChannels;
        OutChannels = outChannels;
        conv = nn.Conv2d(inChannels, outChannels, kernel_size: 3, stride: 1, padding: 1, bias: true);
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
        var weightType = conv.weight!.dtype;
        var x = input.dtype == weightType ? input : input.to_type(weightType);
        var missing = (SafeOutputBlock - (OutChannels % SafeOutputBlock)) % SafeOutputBlock;
        if (missing == 0 || x.device_type != DeviceType.CPU)
        {
            return conv.call(x);
        }

        using var scope = torch.NewDisposeScope();
        var weight = nn.functional.pad(conv.weight!, [0, 0, 0, 0, 0, 0, 0, missing]);
        var bias = nn.functional.pad(conv.bias!, [0, missing]);
        return nn.functional.conv2d(x, weight, bias, padding: [1, 1]).narrow(1, 0, OutChannels).MoveToOuterDisposeScope();
    }

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
