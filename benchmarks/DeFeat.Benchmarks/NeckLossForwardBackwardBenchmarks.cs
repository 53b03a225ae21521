using BenchmarkDotNet.Attributes;
using DeFeat.Benchmarks.Workloads;
using static TorchSharp.torch;

namespace DeFeat.Benchmarks;

/// <summary>
/// Neck feature loss, forward and backward to the student features: the official algorithm (float64
/// masks repeated over channels, two masked passes, host-read normalisers) against <c>DecoupledFeatureLoss</c>.
/// R50-FPN P2–P6, 256 channels, 20 GT boxes per image.
/// </summary>
[MemoryDiagnoser]
public class NeckLossForwardBackwardBenchmarks : NeckLossBenchmarkParameters
{
    [Benchmark(Baseline = true, Description = "official algorithm")]
    public void Official()
    {
        using var scope = NewDisposeScope();
        Workload.Backward(Workload.Official());
        Workload.Synchronize();
    }

    [Benchmark(Description = "DecoupledFeatureLoss")]
    public void Ours()
    {
        using var scope = NewDisposeScope();
        Workload.Backward(Workload.Ours());
        Workload.Synchronize();
    }
}
