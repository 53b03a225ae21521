using BenchmarkDotNet.Attributes;
using DeFeat.Benchmarks.Workloads;
using DeFeat.Hooks.Recording;
using DeFeat.Hooks.Teacher;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Benchmarks;

/// <summary>
/// What the library adds to a teacher's forward: the same small detector (backbone + neck, B = 8 images of 96 × 96,
/// the sample's batch) run bare (eval, parameters frozen, <c>no_grad</c>) against the same run through
/// <see cref="FrozenTeacher.Run{TResult}"/> (eval re-applied, <c>no_grad</c>) with a <see cref="FeatureTap"/> on its
/// neck recording the three levels and cleared after each step, as a distiller does. The neck is invoked with
/// <c>call(...)</c> (the tap is a hook) or <c>forward(...)</c> (the tap is a stand-in in the parent's field).
/// </summary>
[MemoryDiagnoser]
public class FrozenTeacherBenchmarks
{
    private Device device = null!;
    private Tensor images = null!;
    private SmallDetector bare = null!;
    private SmallDetector tapped = null!;
    private FrozenTeacher frozen = null!;
    private FeatureTap tap = null!;

    [ParamsSource(nameof(Devices))]
    public string Device { get; set; } = BenchmarkDevices.Cpu;

    [Params("call", "forward")]
    public string NeckInvocation { get; set; } = "call";

    public static IEnumerable<string> Devices() => BenchmarkDevices.Available();

    [GlobalSetup]
    public void Setup()
    {
        device = torch.device(Device);
        var byForward = NeckInvocation == "forward";
        manual_seed(1);
        bare = new SmallDetector(byForward);
        manual_seed(1);
        tapped = new SmallDetector(byForward);
        bare.to(device).eval();
        foreach (var parameter in bare.parameters())
        {
            parameter.requires_grad = false;
        }

        tapped.to(device);
        frozen = new FrozenTeacher(tapped);
        tap = new FeatureTap(tapped, "neck");
        images = randn([8, 3, 96, 96], generator: new Generator(2)).to(device);

        using var scope = NewDisposeScope();
        Tensor[] expected;
        using (no_grad())
        {
            expected = bare.call(images);
        }

        frozen.Run(() => tapped.call(images));
        if (tap.Features.Count != 3 || !tap.Features.Zip(expected).All(pair => pair.First.allclose(pair.Second)))
        {
            throw new InvalidOperationException("The tapped teacher's neck outputs differ from the bare forward's.");
        }

        tap.Clear();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        tap.Dispose();
        images.Dispose();
        bare.Dispose();
        tapped.Dispose();
    }

    [Benchmark(Baseline = true, Description = "bare forward (eval, no_grad)")]
    public void Bare()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        bare.call(images);
        BenchmarkDevices.Synchronize(device);
    }

    [Benchmark(Description = "FrozenTeacher.Run + neck tap")]
    public void FrozenAndTapped()
    {
        using var scope = NewDisposeScope();
        frozen.Run(() => tapped.call(images));
        BenchmarkDevices.Synchronize(device);
        tap.Clear();
    }
}
