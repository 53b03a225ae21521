using DeFeat.Losses.Adaptation;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Adaptation;

/// <summary>
/// The adaptation layer's float32 gradients on the CPU against the same layer in float64 (which libtorch computes
/// without oneDNN), for channel counts inside the envelope of oneDNN's faulty 3×3 backward (output channels not a
/// multiple of 16, or more than 16 input channels that are not a multiple of 16: docs/cpu-convolution-nan.md), with one
/// and two intra-op threads, oneDNN on. Without the layer's workaround these shapes gave wrong input gradients or outputs
/// (relative error 0.2–1) in most trials on an AVX-512 machine.
/// </summary>
public class AdaptationConvGradientTests
{
    public static TheoryData<long, long, int, int> Shapes => new()
    {
        { 3, 4, 8, 1 }, { 3, 4, 8, 2 }, { 2, 4, 8, 1 }, { 2, 4, 8, 2 }, { 8, 9, 4, 1 }, { 8, 9, 4, 2 },
        { 5, 12, 6, 1 }, { 5, 12, 6, 2 }, { 8, 24, 4, 1 }, { 8, 24, 4, 2 }, { 16, 40, 4, 2 }, { 8, 8, 2, 1 }, { 32, 64, 4, 2 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Float32_gradients_match_float64_ones(long studentChannels, long teacherChannels, int size, int threads)
    {
        var previousThreads = get_num_threads();
        set_num_threads(threads);
        try
        {
            for (var trial = 0; trial < 20; trial++)
            {
                using var scope = NewDisposeScope();
                var generator = new Generator((ulong)(1000 + trial));
                var x64 = randn([2, studentChannels, size, size], dtype: float64, generator: generator);
                var g64 = randn([2, teacherChannels, size, size], dtype: float64, generator: generator);
                using var layer32 = new AdaptationConv(studentChannels, teacherChannels);
                using var layer64 = new AdaptationConv(studentChannels, teacherChannels);
                using (no_grad())
                {
                    // Weights of ordinary size (the official 1e-4 initialisation would make every gradient tiny).
                    var w = randn(layer32.Weight.shape, dtype: float64, generator: generator) * 0.3;
                    var b = randn(layer32.Bias.shape, dtype: float64, generator: generator);
                    layer32.Weight.copy_(w);
                    layer32.Bias.copy_(b);
                    layer64.to(float64);
                    layer64.Weight.copy_(layer32.Weight.to(float64));
                    layer64.Bias.copy_(layer32.Bias.to(float64));
                }

                var x32 = x64.to(float32).requires_grad_();
                var x = x32.detach().to(float64).requires_grad_();
                var y32 = layer32.call(x32);
                var y64 = layer64.call(x);
                (y32 * g64.to(float32)).sum().backward();
                (y64 * g64).sum().backward();

                RelativeError(y32.detach(), y64.detach()).Should().BeLessThan(1e-4, $"y, trial {trial}");
                RelativeError(x32.grad!, x.grad!).Should().BeLessThan(1e-4, $"dL/dx, trial {trial}");
                RelativeError(layer32.Weight.grad!, layer64.Weight.grad!).Should().BeLessThan(1e-4, $"dL/dw, trial {trial}");
                RelativeError(layer32.Bias.grad!, layer64.Bias.grad!).Should().BeLessThan(1e-4, $"dL/db, trial {trial}");
            }
        }
        finally
        {
            set_num_threads(previousThreads);
        }
    }

    /// <summary>max |got − reference| / max |reference| over the tensor; +∞ when <paramref name="got"/> is not finite.</summary>
    private static double RelativeError(Tensor got, Tensor reference)
    {
        var g = got.to(float64).data<double>().ToArray();
        var r = reference.data<double>().ToArray();
        if (g.Any(v => !double.IsFinite(v)))
        {
            return double.PositiveInfinity;
        }

        var scale = r.Max(Math.Abs);
        return g.Zip(r, (a, b) => Math.Abs(a - b)).Max() / scale;
    }
}
