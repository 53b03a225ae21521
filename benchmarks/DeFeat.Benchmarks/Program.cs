using System.Reflection;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

// Two flags of our own, taken out before BenchmarkSwitcher parses the rest (--filter, --exporters, ...):
//   --inprocess  run the benchmarks in this process (InProcessEmitToolchain): no SDK needed, e.g. on a GPU machine
//                that only has a published self-contained build;
//   --quick      1 launch, 1 warm-up, 3 measured iterations: for the heavy 1333×800 cases on a small, shared machine.
// With either flag our job is the base job, and BenchmarkDotNet ignores its own --job option (its per-job options such
// as --iterationCount or --warmupCount still apply); without them the standard --job option works as usual.
//   device-check             (first argument) the CUDA machine check of GpuCheck/DeviceCheck.cs instead of benchmarks;
//   cuda-facts TESTS.dll     (first argument) run that test assembly's [CudaFact] tests (GpuCheck/CudaFactRunner.cs).
if (args is ["device-check", ..])
{
    return DeFeat.Benchmarks.GpuCheck.DeviceCheck.Run();
}

if (args is ["cuda-facts", var testAssembly, ..])
{
    return DeFeat.Benchmarks.GpuCheck.CudaFactRunner.Run(testAssembly);
}

const string InProcessFlag = "--inprocess";
const string QuickFlag = "--quick";

var inProcess = args.Contains(InProcessFlag, StringComparer.OrdinalIgnoreCase);
var quick = args.Contains(QuickFlag, StringComparer.OrdinalIgnoreCase);
var switcherArgs = args
    .Where(arg => !arg.Equals(InProcessFlag, StringComparison.OrdinalIgnoreCase) && !arg.Equals(QuickFlag, StringComparison.OrdinalIgnoreCase))
    .ToArray();

IConfig config = DefaultConfig.Instance;
if (inProcess || quick)
{
    var job = quick
        ? Job.Default.WithId("Quick").WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(3)
        : Job.Default;
    if (inProcess)
    {
        job = job.WithToolchain(InProcessEmitToolchain.Instance);
    }

    config = ManualConfig.Create(DefaultConfig.Instance).AddJob(job.AsDefault());
}

if (!inProcess)
{
    // The out-of-process toolchain builds a generated host project without Directory.Build.targets; MSBuild reads
    // environment variables as properties, so this hands it the libLibTorchSharp fix (see GeneratedHost.targets).
    var generatedHostTargets = typeof(Program).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(attribute => attribute.Key == "DeFeat.GeneratedHostTargets").Value;
    Environment.SetEnvironmentVariable("CustomAfterMicrosoftCommonTargets", generatedHostTargets);
}

BenchmarkSwitcher.FromAssembly(typeof(DeFeat.Benchmarks.NeckLossForwardBenchmarks).Assembly).Run(switcherArgs, config);
return 0;
