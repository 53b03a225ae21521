using BenchmarkDotNet.Attributes;
using DeFeat.Benchmarks.Workloads;
using static TorchSharp.torch;

namespace DeFeat.Benchmarks;

/// <summary>
/// Neck feature loss, forward only (with autograd recording, as in a training step): the official algorithm (float64
/// masks repeated over channels, two masked passes, host-read normalisers) against <c>DecoupledFeatureLoss</c>.
/// R50-FPN P2–P6, 256 channels, 20 GT boxes per image.
/// </summary>
[MemoryDiagnoser]
public class NeckLossForwardBenchmarks
{
    private NeckLossWorkload workload = null!;

    [ParamsSource(nameof(Devices))]
    public string Device { get; set; } = BenchmarkDevices.Cpu;

    [Params(FpnShape.Small, FpnShape.Coco)]
    public string Shape { get; set; } = FpnShape.Small;

    [Params(2, 8)]
    public int Batch { get; set; } = 2;

    public static IEnumerable<string> Devices() => BenchmarkDevices.Available();

    [GlobalSetup]
    public void Setup() => workload = NeckLossWorkload.Create(Shape, Batch, Device);

    [GlobalCleanup]
    public void Cleanup() => workload.Dispose();

    [Benchmark(Baseline = true, Description = "official algorithm")]
    public void Official()
    {
        using var scope = NewDisposeScope();
        workload.Official();
        workload.Synchronize();
    }

    [Benchmark(Description = "DecoupledFeatureLoss")]
    public void Ours()
    {
        using var scope = NewDisposeScope();
        workload.Ours();
        workload.Synchronize();
    }
}
