using BenchmarkDotNet.Attributes;
using DeFeat.Benchmarks.Official;
using DeFeat.Benchmarks.Workloads;
using DeFeat.Losses.Masks;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Benchmarks;

/// <summary>
/// GT object masks for P2–P6 from B images × N boxes: the official algorithm (host loop over images, levels and boxes,
/// coordinates read to the host, one slice assignment per box on float64 maps) against <c>DeFeatMaskBuilder</c>, with its
/// default box-value check (one host read per call) and without it (no host synchronisation, as in a GPU training loop).
/// </summary>
[MemoryDiagnoser]
public class MaskBuildingBenchmarks
{
    private FpnShape shape = null!;
    private Device device = null!;
    private Tensor[] boxes = [];
    private DeFeatMaskBuilder builder = null!;
    private DeFeatMaskBuilder uncheckedBuilder = null!;

    [ParamsSource(nameof(Devices))]
    public string Device { get; set; } = BenchmarkDevices.Cpu;

    [Params(FpnShape.Small, FpnShape.Coco)]
    public string Shape { get; set; } = FpnShape.Small;

    [Params(2, 8)]
    public int Batch { get; set; } = 2;

    [Params(20, 100)]
    public int BoxesPerImage { get; set; } = 20;

    public static IEnumerable<string> Devices() => BenchmarkDevices.Available();

    [GlobalSetup]
    public void Setup()
    {
        shape = FpnShape.Named(Shape);
        device = torch.device(Device);
        boxes = SyntheticDetectionData.GroundTruthBoxes(shape, Batch, BoxesPerImage, device);
        builder = new DeFeatMaskBuilder();
        uncheckedBuilder = new DeFeatMaskBuilder { ValidateBoxValues = false };

        using var scope = NewDisposeScope();
        var official = OfficialMaskBuilder.Build(boxes, shape.Levels, FpnShape.Strides);
        var ours = uncheckedBuilder.Build(boxes, shape.Levels, FpnShape.Strides);
        for (var level = 0; level < official.Length; level++)
        {
            Agreement.Masks($"P{level + 2} mask ({Shape}, B={Batch}, {BoxesPerImage} boxes/image)", official[level], ours[level]);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var box in boxes)
        {
            box.Dispose();
        }
    }

    [Benchmark(Baseline = true, Description = "official algorithm")]
    public void Official()
    {
        using var scope = NewDisposeScope();
        OfficialMaskBuilder.Build(boxes, shape.Levels, FpnShape.Strides);
        BenchmarkDevices.Synchronize(device);
    }

    [Benchmark(Description = "DeFeatMaskBuilder")]
    public void Ours()
    {
        using var scope = NewDisposeScope();
        uncheckedBuilder.Build(boxes, shape.Levels, FpnShape.Strides);
        BenchmarkDevices.Synchronize(device);
    }

    [Benchmark(Description = "DeFeatMaskBuilder, boxes checked")]
    public void OursWithBoxCheck()
    {
        using var scope = NewDisposeScope();
        builder.Build(boxes, shape.Levels, FpnShape.Strides);
        BenchmarkDevices.Synchronize(device);
    }
}
