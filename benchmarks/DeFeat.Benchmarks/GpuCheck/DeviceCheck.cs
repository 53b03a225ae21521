using System.Diagnostics;
using DeFeat.Benchmarks.Official;
using DeFeat.Benchmarks.Workloads;
using DeFeat.Losses;
using DeFeat.Losses.Adaptation;
using DeFeat.Losses.Dense;
using DeFeat.Losses.Features;
using DeFeat.Losses.Masks;
using DeFeat.Losses.Proposals;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Benchmarks.GpuCheck;

/// <summary>
/// The one-run check of a CUDA machine (<c>DeFeat.Benchmarks device-check</c>, benchmarks/RESULTS.md "GPU"): that
/// TorchSharp runs on the machine's libtorch, that every loss and mask builder gives on CUDA what it gives on the CPU
/// (forward and gradients), which of our loss paths wait for the device (observed: the host time of a call made
/// while the GPU is still busy with queued work), and the neck loss's time against its memory-bandwidth floor.
/// </summary>
/// <remarks>
/// Each check prints one line starting with PASS, FAIL or INFO and goes on after a failure, so one run shows
/// everything; the exit code is the number of failed checks.
/// </remarks>
internal static class DeviceCheck
{
    private static int failures;

    /// <summary>The device under test: CUDA; <c>GPU_CHECK_DEVICE=cpu</c> runs the same code on the CPU (a dry run of the script).</summary>
    private static torch.Device Gpu = null!;

    public static int Run()
    {
        Console.WriteLine($"cuda available: {cuda.is_available()}, devices: {(cuda.is_available() ? cuda.device_count() : 0)}");
        var deviceName = Environment.GetEnvironmentVariable("GPU_CHECK_DEVICE") ?? "cuda";
        if (deviceName == "cuda" && !cuda.is_available())
        {
            Console.WriteLine("FAIL no CUDA device: nothing else to check");
            return 1;
        }

        Gpu = torch.device(deviceName);

        Check("cuda tensor round trip", CudaTensor);
        Check("conv2d 3x3 forward/backward, cuda vs cpu float64", Convolution);
        Check("DecoupledFeatureLoss + FeatureAdapters forward/backward, cuda vs cpu", FeatureLoss);
        Check("mask builders, cuda vs cpu", MaskBuilders);
        Check("DecoupledProposalKdLoss forward/backward, cuda vs cpu", ProposalLoss);
        Check("DecoupledDenseKdLoss forward/backward, cuda vs cpu", DenseLoss);
        Check("PkdLoss forward/backward, cuda vs cpu", Pkd);
        Check("host synchronisation, observed", Synchronisations);
        Check("per-op host cost", OpOverhead);
        Check("neck loss against the bandwidth floor", BandwidthFloor);
        Console.WriteLine($"device-check: {failures} failed");
        return failures;
    }

    private static void Check(string name, Action check)
    {
        try
        {
            using var scope = NewDisposeScope();
            check();
            Console.WriteLine($"PASS {name}");
        }
        catch (Exception error)
        {
            failures++;
            Console.WriteLine($"FAIL {name}: {error.GetType().Name}: {error.Message}");
            Console.WriteLine(error.StackTrace?.Split('\n').Take(4).Aggregate((a, b) => a + "\n" + b));
        }
    }

    private static void CudaTensor()
    {
        var host = arange(0, 1000, dtype: ScalarType.Float32);
        var device = host.to(Gpu);
        var back = (device * 2).cpu();
        Close("2·x", back, host * 2, 0);
        Info($"tensor on {device.device}, sum {device.sum().item<float>()}");
    }

    private static void Convolution()
    {
        // 3×3 with 12 output channels: the shape class libtorch's CPU oneDNN backward gets wrong (docs/cpu-convolution-nan.md).
        var generator = new Generator(3);
        var x = randn([2, 20, 24, 24], dtype: ScalarType.Float64, generator: generator);
        var w = randn([12, 20, 3, 3], dtype: ScalarType.Float64, generator: generator) * 0.1;
        var (cpuOut, cpuDx, cpuDw) = ConvGradients(x, w);
        var (gpuOut, gpuDx, gpuDw) = ConvGradients(x.to_type(ScalarType.Float32).to(Gpu), w.to_type(ScalarType.Float32).to(Gpu));
        Close("output", gpuOut, cpuOut, 1e-4);
        Close("input gradient", gpuDx, cpuDx, 1e-4);
        Close("weight gradient", gpuDw, cpuDw, 1e-4);
    }

    private static (Tensor Output, Tensor InputGradient, Tensor WeightGradient) ConvGradients(Tensor x, Tensor w)
    {
        var input = x.detach().requires_grad_(true);
        var weight = w.detach().requires_grad_(true);
        var output = nn.functional.conv2d(input, weight, padding: [1, 1]);
        output.square().sum().backward();
        return (output.detach(), input.grad!, weight.grad!);
    }

    private static void FeatureLoss()
    {
        var generator = new Generator(5);
        long[] studentChannels = [16, 16];
        long[] teacherChannels = [32, 32];
        FeatureMapSize[] sizes = [new(16, 16), new(8, 8)];
        double[] strides = [4, 8];
        var students = sizes.Select((size, level) => randn([2, studentChannels[level], size.Height, size.Width], generator: generator)).ToArray();
        var teachers = sizes.Select((size, level) => randn([2, teacherChannels[level], size.Height, size.Width], generator: generator)).ToArray();
        Tensor[] boxes = [tensor(new float[] { 4, 4, 30, 40, 20, 8, 60, 30 }).reshape(2, 4), tensor(new float[] { 10, 10, 50, 60 }).reshape(1, 4)];
        var builder = new DeFeatMaskBuilder { CanonicalSize = 56.0 * 64 / 800 };

        using var adapters = new FeatureAdapters(studentChannels, teacherChannels);
        using var loss = new DecoupledFeatureLoss(DecoupledFeatureLossOptions.Voc, adapters);
        var cpu = FeatureLossGradients(loss, adapters, students, teachers, builder.Build(boxes, sizes, strides));
        adapters.to(Gpu);
        var gpu = FeatureLossGradients(
            loss, adapters, [.. students.Select(t => t.to(Gpu))], [.. teachers.Select(t => t.to(Gpu))],
            builder.Build([.. boxes.Select(b => b.to(Gpu))], sizes, strides));
        for (var i = 0; i < cpu.Length; i++)
        {
            Close($"feature loss value/gradient {i}", gpu[i], cpu[i], 1e-4);
        }
    }

    private static Tensor[] FeatureLossGradients(DecoupledFeatureLoss loss, FeatureAdapters adapters, Tensor[] students, Tensor[] teachers, Tensor[] masks)
    {
        var leaves = students.Select(t => t.detach().requires_grad_(true)).ToArray();
        var result = loss.call(leaves, teachers, masks);
        foreach (var parameter in adapters.parameters())
        {
            parameter.grad?.zero_();
        }

        result.Total.backward();
        return [result.Object.detach(), result.Background.detach(), .. leaves.Select(leaf => leaf.grad!), .. adapters.parameters().Select(p => p.grad!.clone())];
    }

    private static void MaskBuilders()
    {
        FeatureMapSize[] sizes = [new(25, 40), new(13, 20), new(7, 10)];
        double[] strides = [8, 16, 32];
        var generator = new Generator(9);
        Tensor[] boxes = [.. Enumerable.Range(0, 3).Select(_ => RandomBoxes(12, 200, 320, generator))];
        Tensor[] gpuBoxes = [.. boxes.Select(b => b.to(Gpu))];
        (string Name, ObjectMaskBuilder Builder)[] builders =
        [
            ("DeFeatMaskBuilder", new DeFeatMaskBuilder()),
            ("GaussianMaskBuilder", new GaussianMaskBuilder()),
            ("AnchorIouMaskBuilder", new AnchorIouMaskBuilder(AnchorIouMaskOptions.RetinaNet)),
            ("BackboneMaskBuilder", new BackboneMaskBuilder()),
            ("AllLevelsMaskBuilder", new AllLevelsMaskBuilder()),
        ];
        foreach (var (name, builder) in builders)
        {
            var cpu = builder.Build(boxes, sizes, strides);
            var gpu = builder.Build(gpuBoxes, sizes, strides);
            for (var level = 0; level < sizes.Length; level++)
            {
                Close($"{name} level {level}", gpu[level], cpu[level], 1e-5);
            }
        }
    }

    private static Tensor RandomBoxes(int count, int height, int width, Generator generator)
    {
        var corner = rand([count, 2], generator: generator) * tensor(new float[] { width * 0.8f, height * 0.8f });
        var size = (rand([count, 2], generator: generator) * 0.5 + 0.05) * tensor(new float[] { width * 0.5f, height * 0.5f });
        return cat([corner, corner + size], 1);
    }

    private static void ProposalLoss()
    {
        var (student, teacher, labels) = SyntheticDetectionData.ProposalLogits(512, 20, CPU);
        using var loss = new DecoupledProposalKdLoss(new DecoupledProposalKdLossOptions { ObjectWeight = 2, BackgroundWeight = 2, ObjectTemperature = 2 });
        var cpu = ProposalGradients(loss, student, teacher, labels);
        var gpu = ProposalGradients(loss, student.to(Gpu), teacher.to(Gpu), labels.to(Gpu));
        for (var i = 0; i < cpu.Length; i++)
        {
            Close($"proposal KD value/gradient {i}", gpu[i], cpu[i], 1e-4);
        }
    }

    private static Tensor[] ProposalGradients(DecoupledProposalKdLoss loss, Tensor student, Tensor teacher, Tensor labels)
    {
        var leaf = student.detach().requires_grad_(true);
        var result = loss.call(leaf, teacher, labels);
        result.Total.backward();
        return [result.Object.detach(), result.Background.detach(), leaf.grad!];
    }

    private static void DenseLoss()
    {
        var generator = new Generator(13);
        const int anchors = 3, classes = 5;
        FeatureMapSize[] sizes = [new(12, 12), new(6, 6)];
        var students = sizes.Select(size => randn([2, anchors * classes, size.Height, size.Width], generator: generator)).ToArray();
        var teachers = sizes.Select(size => randn([2, anchors * classes, size.Height, size.Width], generator: generator)).ToArray();
        var weights = sizes.Select(size => rand([2, anchors, size.Height, size.Width], generator: generator)).ToArray();
        foreach (var activation in new[] { DenseKdActivation.Sigmoid, DenseKdActivation.Softmax })
        {
            using var loss = new DecoupledDenseKdLoss(new DecoupledDenseKdLossOptions { Classes = classes, AnchorsPerLocation = anchors, Activation = activation, ObjectTemperature = 2 });
            var cpu = DenseGradients(loss, students, teachers, weights);
            var gpu = DenseGradients(loss, [.. students.Select(t => t.to(Gpu))], [.. teachers.Select(t => t.to(Gpu))], [.. weights.Select(t => t.to(Gpu))]);
            for (var i = 0; i < cpu.Length; i++)
            {
                Close($"dense KD ({activation}) value/gradient {i}", gpu[i], cpu[i], 1e-4);
            }
        }
    }

    private static Tensor[] DenseGradients(DecoupledDenseKdLoss loss, Tensor[] students, Tensor[] teachers, Tensor[] weights)
    {
        var leaves = students.Select(t => t.detach().requires_grad_(true)).ToArray();
        var result = loss.call(leaves, teachers, weights);
        result.Total.backward();
        return [result.Object.detach(), result.Background.detach(), .. leaves.Select(leaf => leaf.grad!)];
    }

    private static void Pkd()
    {
        var generator = new Generator(17);
        var students = new[] { randn([2, 16, 16, 16], generator: generator), randn([2, 16, 8, 8], generator: generator) };
        var teachers = new[] { randn([2, 16, 16, 16], generator: generator), randn([2, 16, 8, 8], generator: generator) };
        using var loss = new PkdLoss();
        var cpu = PkdGradients(loss, students, teachers);
        var gpu = PkdGradients(loss, [.. students.Select(t => t.to(Gpu))], [.. teachers.Select(t => t.to(Gpu))]);
        for (var i = 0; i < cpu.Length; i++)
        {
            Close($"PKD value/gradient {i}", gpu[i], cpu[i], 1e-4);
        }
    }

    private static Tensor[] PkdGradients(PkdLoss loss, Tensor[] students, Tensor[] teachers)
    {
        var leaves = students.Select(t => t.detach().requires_grad_(true)).ToArray();
        var result = loss.call(leaves, teachers);
        result.backward();
        return [result.detach(), .. leaves.Select(leaf => leaf.grad!)];
    }

    /// <summary>
    /// A call that waits for the device returns only after the GPU has finished the work queued before it; one that
    /// does not returns while that work still runs. So: queue about <c>busy</c> ms of matrix products, time the call
    /// on the host, then synchronise. The official-algorithm port (host reads) is the positive control.
    /// </summary>
    private static void Synchronisations()
    {
        var shape = FpnShape.Named(FpnShape.Small);
        var cudaDevice = Gpu;
        var students = SyntheticDetectionData.NeckFeatures(shape, 2, cudaDevice, seed: 1).Select(t => t.requires_grad_(true)).ToArray();
        var teachers = SyntheticDetectionData.NeckFeatures(shape, 2, cudaDevice, seed: 2);
        var boxes = SyntheticDetectionData.GroundTruthBoxes(shape, 2, 20, cudaDevice);
        var (studentLogits, teacherLogits, labels) = SyntheticDetectionData.ProposalLogits(1024, 80, cudaDevice);
        var leafLogits = studentLogits.requires_grad_(true);
        var strides = FpnShape.Strides;
        using var featureLoss = new DecoupledFeatureLoss(DecoupledFeatureLossOptions.Coco);
        using var proposalLoss = new DecoupledProposalKdLoss(new DecoupledProposalKdLossOptions { ValidateLabels = false });
        using var checkedProposalLoss = new DecoupledProposalKdLoss(new DecoupledProposalKdLossOptions { ValidateLabels = true });
        var masks = new DeFeatMaskBuilder().Build(boxes, shape.Levels, strides);
        var officialMasks = OfficialMaskBuilder.Build(boxes, shape.Levels, strides);
        var official = new OfficialNeckLoss(4, 16);
        var officialProposal = new OfficialProposalKdLoss(1, 1, 1);

        (string Name, bool ExpectSync, Action Call)[] calls =
        [
            ("DecoupledFeatureLoss forward+backward", false, () => featureLoss.call(students, teachers, masks).Total.backward()),
            ("DeFeatMaskBuilder.Build (default: no box check on CUDA)", false, () => new DeFeatMaskBuilder().Build(boxes, shape.Levels, strides)),
            ("DeFeatMaskBuilder.Build, ValidateBoxValues = true", true, () => new DeFeatMaskBuilder { ValidateBoxValues = true }.Build(boxes, shape.Levels, strides)),
            ("DecoupledProposalKdLoss forward+backward, ValidateLabels = false", false, () => proposalLoss.call(leafLogits, teacherLogits, labels).Total.backward()),
            ("DecoupledProposalKdLoss forward+backward, ValidateLabels = true", true, () => checkedProposalLoss.call(leafLogits, teacherLogits, labels).Total.backward()),
            ("official port: neck loss forward+backward", true, () => official.Forward(students, teachers, officialMasks).Total.backward()),
            ("official port: mask building", true, () => OfficialMaskBuilder.Build(boxes, shape.Levels, strides)),
            ("official port: proposal KD forward+backward", true, () => officialProposal.Forward(leafLogits, teacherLogits, labels).Total.backward()),
        ];

        var side = Gpu.type == DeviceType.CUDA ? 8192 : 768;
        using var a = randn([side, side], device: cudaDevice);
        var busyTime = TimeBusy(a, 1);
        var products = Math.Max(1, (int)Math.Ceiling(300 / busyTime));
        busyTime = TimeBusy(a, products);
        Info($"queued GPU work: {products} products of {side}², {busyTime:F0} ms on the device");
        var wrong = new List<string>();
        foreach (var (name, expectSync, call) in calls)
        {
            using var scope = NewDisposeScope();
            call(); // warm-up: kernels loaded, allocator blocks cached
            Synchronize();
            for (var i = 0; i < 3; i++)
            {
                a.mm(a);
            }

            for (var i = 0; i < products; i++)
            {
                a.mm(a);
            }

            var watch = Stopwatch.StartNew();
            call();
            var host = watch.Elapsed.TotalMilliseconds;
            Synchronize();
            var total = watch.Elapsed.TotalMilliseconds;
            var synced = host > busyTime * 0.5;
            Info($"{name}: host {host:F1} ms while the GPU had {busyTime:F0} ms queued (returned after the queue drained: {(synced ? "yes, it waited" : "no")}; {total:F0} ms until idle)");
            if (synced != expectSync)
            {
                wrong.Add($"{name} (expected {(expectSync ? "a" : "no")} wait)");
            }
        }

        if (wrong.Count > 0)
        {
            throw new InvalidOperationException("unexpected: " + string.Join("; ", wrong));
        }
    }

    private static double TimeBusy(Tensor a, int products)
    {
        Synchronize();
        var watch = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        for (var i = 0; i < products; i++)
        {
            a.mm(a);
        }

        Synchronize();
        return watch.Elapsed.TotalMilliseconds;
    }

    /// <summary>
    /// Device copy bandwidth (bytes read + written per second of a large <c>copy_</c>), and the neck loss's
    /// forward+backward time against its floors, N = Σ_l B·C·H_l·W_l floats, the masks adding B·H·W per level: a fused
    /// forward+backward reads S and T and writes dS once (3N); a forward pass then a backward pass reads S and T twice
    /// and writes dS (5N).
    /// </summary>
    private static void BandwidthFloor()
    {
        var cudaDevice = Gpu;
        var onGpu = Gpu.type == DeviceType.CUDA;
        var source = empty([(onGpu ? 256L : 16L) * 1024 * 1024], device: cudaDevice);
        var target = empty([(onGpu ? 256L : 16L) * 1024 * 1024], device: cudaDevice);
        source.fill_(1);
        var copyMs = Time(() => target.copy_(source), 20);
        var bandwidth = 2.0 * source.NumberOfElements * 4 / (copyMs / 1000);
        Info($"device copy: {copyMs:F3} ms per {source.NumberOfElements * 4 >> 20} MiB copy, {bandwidth / 1e12:F2} TB/s (read + write)");
        foreach (var (shapeName, batch) in onGpu ? new[] { (FpnShape.Small, 8), (FpnShape.Coco, 2), (FpnShape.Coco, 8) } : [(FpnShape.Small, 2)])
        {
            using var scope = NewDisposeScope();
            using var workload = NeckLossWorkload.Create(shapeName, batch, Gpu.type == DeviceType.CUDA ? "cuda" : "cpu");
            var shape = FpnShape.Named(shapeName);
            var elements = (double)batch * shape.Channels * shape.CellsPerImage;
            var maskElements = (double)batch * shape.CellsPerImage;
            var fusedFloorMs = ((3 * elements) + maskElements) * 4 / bandwidth * 1000;
            var floorMs = ((5 * elements) + maskElements) * 4 / bandwidth * 1000;
            var forwardFloorMs = ((2 * elements) + maskElements) * 4 / bandwidth * 1000;
            var oursForward = Time(() => workload.Ours(), 10);
            var ours = Time(() => workload.Backward(workload.Ours()), 10);
            var oursIssue = HostIssue(() => workload.Backward(workload.Ours()), 10);
            var officialForward = Time(() => workload.Official(), 5);
            var official = Time(() => workload.Backward(workload.Official()), 5);
            Info($"neck loss {shapeName} B={batch}: N = {elements / 1e6:F1} M floats; forward+backward ours {ours:F3} ms, official {official:F3} ms "
                + $"({official / ours:F1}x), ours issued by the host in {oursIssue:F3} ms; fused floor {fusedFloorMs:F3} ms, ours / fused floor {ours / fusedFloorMs:F2}; two-pass floor {floorMs:F3} ms, ours / two-pass floor {ours / floorMs:F2}; forward ours {oursForward:F3} ms, "
                + $"official {officialForward:F3} ms, floor {forwardFloorMs:F3} ms, ours / floor {oursForward / forwardFloorMs:F2}");
        }
    }

    /// <summary>
    /// What one TorchSharp op costs the host when the kernel itself is trivial: 2000 in-place adds on one element, and
    /// 2000 out-of-place adds whose results go to a dispose scope (allocation and freeing included). A loss path of n
    /// small ops cannot take less than about n times this, whatever the bandwidth.
    /// </summary>
    private static void OpOverhead()
    {
        const int ops = 2000;
        var x = zeros([1], device: Gpu);
        using var one = 1.0.ToScalar();
        Synchronize();
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < ops; i++)
        {
            x.add_(one);
        }

        var inPlaceHost = watch.Elapsed.TotalMilliseconds;
        Synchronize();
        var inPlace = watch.Elapsed.TotalMilliseconds;
        watch.Restart();
        for (var i = 0; i < ops; i++)
        {
            using var scope = NewDisposeScope();
            _ = x + x;
        }

        var outOfPlaceHost = watch.Elapsed.TotalMilliseconds;
        Synchronize();
        var outOfPlace = watch.Elapsed.TotalMilliseconds;
        Info($"per op: in-place add {1000 * inPlace / ops:F1} µs ({1000 * inPlaceHost / ops:F1} µs on the host), "
            + $"out-of-place add in a dispose scope {1000 * outOfPlace / ops:F1} µs ({1000 * outOfPlaceHost / ops:F1} µs on the host)");
    }

    /// <summary>Mean host milliseconds to issue <paramref name="action"/> (device idle before each call; not waiting for it).</summary>
    private static double HostIssue(Action action, int iterations)
    {
        var total = 0.0;
        for (var i = 0; i < iterations; i++)
        {
            using var scope = NewDisposeScope();
            Synchronize();
            var watch = Stopwatch.StartNew();
            action();
            total += watch.Elapsed.TotalMilliseconds;
            Synchronize();
        }

        return total / iterations;
    }

    /// <summary>Mean milliseconds of <paramref name="action"/> over <paramref name="iterations"/> calls after two warm-ups.</summary>
    private static double Time(Action action, int iterations)
    {
        for (var i = 0; i < 2; i++)
        {
            using var warm = NewDisposeScope();
            action();
        }

        Synchronize();
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < iterations; i++)
        {
            using var scope = NewDisposeScope();
            action();
        }

        Synchronize();
        return watch.Elapsed.TotalMilliseconds / iterations;
    }

    private static void Close(string what, Tensor actual, Tensor expected, double relativeTolerance)
    {
        var a = actual.detach().cpu().to_type(ScalarType.Float64);
        var e = expected.detach().cpu().to_type(ScalarType.Float64);
        if (!a.shape.SequenceEqual(e.shape))
        {
            throw new InvalidOperationException($"{what}: shape [{string.Join(", ", a.shape)}] vs [{string.Join(", ", e.shape)}]");
        }

        var scale = Math.Max(e.abs().max().item<double>(), 1e-12);
        var error = (a - e).abs().max().item<double>() / scale;
        if (!(error <= relativeTolerance))
        {
            throw new InvalidOperationException($"{what}: max |cuda − cpu| / max |cpu| = {error:E2} > {relativeTolerance:E0}");
        }
    }

    private static void Synchronize()
    {
        if (Gpu.type == DeviceType.CUDA)
        {
            cuda.synchronize();
        }
    }

    private static void Info(string line) => Console.WriteLine($"INFO {line}");
}
