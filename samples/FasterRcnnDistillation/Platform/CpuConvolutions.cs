using System.Diagnostics;
using DeFeat.Losses.Platform;
using FasterRcnnDistillation.Model;

namespace FasterRcnnDistillation.Platform;

/// <summary>
/// Chooses, at start-up, the fastest CPU convolution path that is correct for the sample's detectors on this machine:
/// libtorch's oneDNN kernels at the CPU's full instruction set when <see cref="CpuConvolutionCheck.Run(TorchSharp.torch.nn.Module, int)"/>
/// finds every distinct convolution of the teacher and the student correct against float64, libtorch's native kernels
/// (oneDNN off: correct, slower) otherwise. DeFeat's adaptation layers are correct either way (they pad their channels).
/// </summary>
internal static class CpuConvolutions
{
    /// <summary>Trials per distinct convolution: the fault is intermittent per call; 4 caught every faulty shape tried.</summary>
    private const int TrialsPerConvolution = 4;

    /// <summary>Checks both architectures, turns oneDNN off when one is wrong, and returns the one line that says what was chosen and why.</summary>
    /// <param name="classes">The data set's object classes (the detectors' head sizes depend on them).</param>
    /// <param name="allowed">False (<c>--onednn off</c>): oneDNN off without a check.</param>
    public static string Choose(int classes, bool allowed)
    {
        if (!allowed)
        {
            CpuConvolutionCheck.DisableOneDnn();
            return "CPU convolutions: oneDNN off (--onednn off; libtorch's native kernels, correct).";
        }

        if (!CpuConvolutionCheck.OneDnnEnabled)
        {
            return "CPU convolutions: oneDNN is off in this process (libtorch's native kernels, correct).";
        }

        var clock = Stopwatch.StartNew();
        var reports = new[] { DetectorConfig.Teacher(classes), DetectorConfig.Student(classes) }.Select(config =>
        {
            using var model = new FasterRcnn(config);
            return CpuConvolutionCheck.Run(model, TrialsPerConvolution);
        }).ToArray();
        var checkedShapes = reports.Sum(report => report.Trials) / TrialsPerConvolution;
        var wrong = reports.SelectMany(report => report.WrongConvolutions).ToArray();
        if (wrong.Length == 0)
        {
            return $"CPU convolutions: oneDNN ({Environment.GetEnvironmentVariable("DNNL_MAX_CPU_ISA") ?? "full instruction set"}); "
                   + $"the teacher's and student's {checkedShapes} distinct convolutions match float64 ({clock.ElapsedMilliseconds} ms check).";
        }

        CpuConvolutionCheck.DisableOneDnn();
        return $"CPU convolutions: oneDNN OFF (correct, slower): its results were wrong for {string.Join(", ", wrong)} ({clock.ElapsedMilliseconds} ms check).";
    }
}
