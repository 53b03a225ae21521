using TorchSharp;

namespace DeFeat.Benchmarks.Workloads;

/// <summary>The devices a benchmark runs on: "cpu" always, "cuda" only when a CUDA device is available.</summary>
internal static class BenchmarkDevices
{
    public const string Cpu = "cpu";
    public const string Cuda = "cuda";

    /// <summary>The [ParamsSource] of every benchmark class: CUDA cases are left out cleanly without a GPU.</summary>
    public static IEnumerable<string> Available()
    {
        yield return Cpu;
        if (torch.cuda.is_available())
        {
            yield return Cuda;
        }
    }

    /// <summary>Waits for queued CUDA work, so a benchmark's time covers the kernels and not just their launch.</summary>
    public static void Synchronize(torch.Device device)
    {
        if (device.type == DeviceType.CUDA)
        {
            torch.cuda.synchronize(device);
        }
    }
}
