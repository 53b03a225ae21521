using BenchmarkDotNet.Attributes;
using DeFeat.Benchmarks.Official;
using DeFeat.Benchmarks.Workloads;
using DeFeat.Losses;
using DeFeat.Losses.Proposals;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Benchmarks;

/// <summary>
/// Decoupled proposal KD, forward and backward to the student logits, R = 512·B RoIs (25 % positive), K + 1 = 81
/// classes, β = 2/2, T = 1: the official algorithm (boolean-mask row selection, <c>kl_div</c> per set) against
/// <c>DecoupledProposalKdLoss</c> without its optional label check (no host synchronisation) and with it.
/// </summary>
[MemoryDiagnoser]
public class ProposalKdBenchmarks
{
    private const int RoisPerImage = 512;
    private const int ObjectClasses = 80;

    private Device device = null!;
    private Tensor studentLogits = null!;
    private Tensor teacherLogits = null!;
    private Tensor labels = null!;
    private OfficialProposalKdLoss officialLoss = null!;
    private DecoupledProposalKdLoss loss = null!;
    private DecoupledProposalKdLoss checkedLoss = null!;

    [ParamsSource(nameof(Devices))]
    public string Device { get; set; } = BenchmarkDevices.Cpu;

    [Params(2, 8)]
    public int Batch { get; set; } = 2;

    public static IEnumerable<string> Devices() => BenchmarkDevices.Available();

    [GlobalSetup]
    public void Setup()
    {
        device = torch.device(Device);
        (studentLogits, teacherLogits, labels) = SyntheticDetectionData.ProposalLogits(RoisPerImage * Batch, ObjectClasses, device);
        studentLogits.requires_grad_(true);
        var options = new DecoupledProposalKdLossOptions();
        officialLoss = new OfficialProposalKdLoss(options.ObjectWeight, options.BackgroundWeight, options.ObjectTemperature);
        loss = new DecoupledProposalKdLoss(options with { ValidateLabels = false });
        checkedLoss = new DecoupledProposalKdLoss(options with { ValidateLabels = true });

        using var scope = NewDisposeScope();
        var official = officialLoss.Forward(studentLogits, teacherLogits, labels);
        var ours = loss.call(studentLogits, teacherLogits, labels);
        Agreement.Scalars($"proposal KD object part (B={Batch})", official.Object, ours.Object, 1e-4);
        Agreement.Scalars($"proposal KD background part (B={Batch})", official.Background, ours.Background, 1e-4);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        studentLogits.Dispose();
        teacherLogits.Dispose();
        labels.Dispose();
        loss.Dispose();
        checkedLoss.Dispose();
    }

    [Benchmark(Baseline = true, Description = "official algorithm")]
    public void Official() => Run(() => officialLoss.Forward(studentLogits, teacherLogits, labels));

    [Benchmark(Description = "DecoupledProposalKdLoss")]
    public void Ours() => Run(() => loss.call(studentLogits, teacherLogits, labels));

    [Benchmark(Description = "DecoupledProposalKdLoss, labels checked")]
    public void OursWithLabelCheck() => Run(() => checkedLoss.call(studentLogits, teacherLogits, labels));

    private void Run(Func<DecoupledLoss> forward)
    {
        using var scope = NewDisposeScope();
        forward().Total.backward();
        studentLogits.grad?.Dispose();
        studentLogits.grad = null;
        BenchmarkDevices.Synchronize(device);
    }
}
