using BenchmarkDotNet.Attributes;

namespace DeFeat.Benchmarks.Workloads;

/// <summary>
/// The parameters and set-up shared by the neck-loss benchmark classes: device, FPN shape and batch, and the
/// <see cref="NeckLossWorkload"/> built from them once per case.
/// </summary>
public abstract class NeckLossBenchmarkParameters
{
    [ParamsSource(nameof(Devices))]
    public string Device { get; set; } = BenchmarkDevices.Cpu;

    [Params(FpnShape.Small, FpnShape.Coco)]
    public string Shape { get; set; } = FpnShape.Small;

    [Params(2, 8)]
    public int Batch { get; set; } = 2;

    private protected NeckLossWorkload Workload { get; private set; } = null!;

    public static IEnumerable<string> Devices() => BenchmarkDevices.Available();

    [GlobalSetup]
    public void Setup() => Workload = NeckLossWorkload.Create(Shape, Batch, Device);

    [GlobalCleanup]
    public void Cleanup() => Workload.Dispose();
}
