using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Platform;

/// <summary>
/// Whether this process computes CPU convolution gradients correctly, and the switch that makes it. libtorch 2.10's
/// oneDNN float32 convolutions (TorchSharp 0.107, CPU) return wrong, sometimes NaN, input gradients for k×k stride-1
/// convolutions whose output channel count is not a multiple of 16 (8 with the AVX2 cap), and wrong outputs for more than
/// 16 input channels that are not a multiple of 16 (docs/cpu-convolution-nan.md): a RetinaNet class head with 9 anchors
/// × 3 classes trains on garbage there.
/// </summary>
public static class CpuConvolutionCheck
{
    private const string LibTorchCpu = "libtorch_cpu.so";

    /// <summary>
    /// Runs a few float32 convolutions of the two faulty kinds on the CPU with the current thread count — the input
    /// gradient of [2, 8, 4, 4] → 9 channels and the output of [2, 24, 4, 4] → 16 channels, 3×3, stride 1 — and compares
    /// each with float64 (which libtorch computes without oneDNN). Takes a few milliseconds; run it once at start-up.
    /// </summary>
    /// <param name="trials">Trials (≥ 1); the fault is intermittent per call, 16 catches it reliably where it exists.</param>
    /// <returns>The report; <see cref="CpuConvolutionReport.Advice"/> is one line for the log.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="trials"/> is below 1.</exception>
    public static CpuConvolutionReport Run(int trials = 16)
    {
        Guard.Positive(trials, nameof(trials));
        var wrong = 0;
        var largest = 0.0;
        for (var trial = 0; trial < trials; trial++)
        {
            using var scope = NewDisposeScope();
            var generator = new Generator((ulong)(7919 + trial));
            var x64 = randn([2, 8, 4, 4], dtype: float64, generator: generator);
            var w64 = randn([9, 8, 3, 3], dtype: float64, generator: generator);
            var g64 = randn([2, 9, 4, 4], dtype: float64, generator: generator);
            var x32 = x64.to(float32).requires_grad_();
            (nn.functional.conv2d(x32, w64.to(float32), padding: [1, 1]) * g64.to(float32)).sum().backward();
            var x = x32.detach().to(float64).requires_grad_();
            (nn.functional.conv2d(x, w64.to(float32).to(float64), padding: [1, 1]) * g64).sum().backward();
            var wide = randn([2, 24, 4, 4], dtype: float64, generator: generator);
            var wideWeight = randn([16, 24, 3, 3], dtype: float64, generator: generator);
            var y32 = nn.functional.conv2d(wide.to(float32), wideWeight.to(float32), padding: [1, 1]);
            var y64 = nn.functional.conv2d(wide.to(float32).to(float64), wideWeight.to(float32).to(float64), padding: [1, 1]);
            var errors = new[] { ConvolutionShape.RelativeError(x32.grad!, x.grad!), ConvolutionShape.RelativeError(y32, y64) };
            largest = Math.Max(largest, errors.Where(double.IsFinite).DefaultIfEmpty(0).Max());
            wrong += errors.Any(error => !(error <= 1e-3)) ? 1 : 0;
        }

        return new CpuConvolutionReport(wrong > 0, trials, wrong, largest, OneDnnEnabled);
    }

    /// <summary>
    /// Checks the convolutions <paramref name="model"/> actually has: for each distinct 2-D convolution (channels, kernel,
    /// stride, padding, dilation, groups) among its submodules, float32 output, input gradient and weight gradient on
    /// the CPU with the current thread count against float64 (which libtorch computes without oneDNN), on a [2, C_in, S, S]
    /// input with S the smallest size ≥ 8 the convolution accepts. Independent of the model's weights, dtype and device (it
    /// uses its own random tensors on the CPU). Run it once at start-up, before training, to decide whether this process
    /// may keep oneDNN for this model (a few milliseconds per distinct shape; a wide model's 3×3 256 → 256 takes longer).
    /// </summary>
    /// <param name="model">Any TorchSharp module (a detector, a head); its <c>Conv2d</c> submodules are checked.</param>
    /// <param name="trials">Trials per distinct convolution (≥ 1); the fault is intermittent per call.</param>
    /// <returns>
    /// The report: <see cref="CpuConvolutionReport.Trials"/> = distinct convolutions × trials, and
    /// <see cref="CpuConvolutionReport.WrongConvolutions"/> the first path of each wrong one with its shape.
    /// </returns>
    /// <exception cref="ArgumentNullException"><paramref name="model"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="trials"/> is below 1.</exception>
    public static CpuConvolutionReport Run(nn.Module model, int trials = 4)
    {
        Guard.NotNull(model, nameof(model));
        Guard.Positive(trials, nameof(trials));
        var shapes = model.named_modules()
            .Where(entry => entry.module is TorchSharp.Modules.Conv2d { transposed: false })
            .Select(entry => (Path: entry.name, Shape: ConvolutionShape.Of((TorchSharp.Modules.Conv2d)entry.module)))
            .GroupBy(entry => entry.Shape)
            .Select(group => (group.First().Path, group.Key))
            .ToArray();
        var (wrongTrials, largest, wrongConvolutions) = (0, 0.0, new List<string>());
        foreach (var (path, shape) in shapes)
        {
            var wrongHere = 0;
            for (var trial = 0; trial < trials; trial++)
            {
                var error = shape.Error((ulong)(104729 + trial));
                largest = double.IsFinite(error) ? Math.Max(largest, error) : largest;
                wrongHere += error <= 1e-3 ? 0 : 1;
            }

            wrongTrials += wrongHere;
            if (wrongHere > 0)
            {
                wrongConvolutions.Add($"'{path}' ({shape})");
            }
        }

        return new CpuConvolutionReport(wrongTrials > 0, shapes.Length * trials, wrongTrials, largest, OneDnnEnabled) { WrongConvolutions = wrongConvolutions };
    }

    /// <summary>Whether libtorch's oneDNN (mkldnn) CPU convolutions are enabled in this process (Linux x64).</summary>
    /// <exception cref="PlatformNotSupportedException">Not Linux x64, where the switch is read through libtorch_cpu.so.</exception>
    public static bool OneDnnEnabled
    {
        get
        {
            ThrowIfUnsupported();
            using var load = zeros(1); // loads libtorch through TorchSharp first
            return UserEnabledMkldnn(GlobalContext());
        }
    }

    /// <summary>
    /// Turns oneDNN (mkldnn) off for the CPU convolutions of this process: libtorch's own switch
    /// (<c>torch.backends.mkldnn.enabled = False</c> in Python), which TorchSharp does not expose. Convolutions then run
    /// libtorch's native kernels, which compute correct gradients; measured cost: docs/cpu-convolution-nan.md. Call it
    /// once at start-up, before training.
    /// </summary>
    /// <exception cref="PlatformNotSupportedException">Not Linux x64.</exception>
    public static void DisableOneDnn()
    {
        ThrowIfUnsupported();
        using var load = zeros(1);
        var context = GlobalContext();
        SetUserEnabledMkldnn(context, false);
        if (UserEnabledMkldnn(context))
        {
            throw new InvalidOperationException("libtorch kept oneDNN enabled after setUserEnabledMkldnn(false).");
        }
    }

    private static void ThrowIfUnsupported()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            throw new PlatformNotSupportedException("The oneDNN switch is reached through libtorch_cpu.so on Linux x64 only.");
        }
    }

    // at::globalContext(), at::Context::setUserEnabledMkldnn(bool), at::Context::userEnabledMkldnn() of libtorch 2.10.
    [DllImport(LibTorchCpu, EntryPoint = "_ZN2at13globalContextEv")]
    private static extern IntPtr GlobalContext();

    [DllImport(LibTorchCpu, EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    private static extern void SetUserEnabledMkldnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [DllImport(LibTorchCpu, EntryPoint = "_ZNK2at7Context17userEnabledMkldnnEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static extern bool UserEnabledMkldnn(IntPtr context);
}
