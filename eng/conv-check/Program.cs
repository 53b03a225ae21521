// Diagnostic for non-finite / wrong CPU convolution gradients in libtorch (oneDNN). See docs/cpu-convolution-nan.md.
//
//   dotnet run -c Release --project eng/conv-check -- [options]
//
//   --isa VALUE        setenv("DNNL_MAX_CPU_ISA", VALUE) in the native environment (libc), at the moment --isa-when
//                      names; without it the environment is left as the shell gave it (export it there instead)
//   --isa-when WHEN    start (before the first torch call, default) | after-load (after libtorch is loaded, before any
//                      tensor op) | after-op (after a matmul) | after-conv (after one float32 convolution forward and
//                      backward)
//   --mkldnn off       at::globalContext().setUserEnabledMkldnn(false) before the trials (libtorch's own switch,
//                      which TorchSharp does not expose)
//   --trials N         trials per configuration (default 200)
//   --threads LIST     intra-op thread counts, e.g. 1,2 (default 1,2)
//   --dtypes LIST      float32,float64 (default both)
//   --bench N          instead of the trials: median time of N float32 forward + backward runs per shape (default
//                      shapes: the sample teacher's convolutions); run once with and once without the cap to compare
//   --literal          instead of the trials: the issue's check as written (see below); --concurrent K runs it on K
//                      managed threads at once
//   --loss sum         upstream gradient of y.sum() (ones, expanded: strides 0) instead of a dense random one
//   --shapes LIST      ';'-separated "N,C,H,W>O/kK/sS/pP", e.g. "2,2,8,8>4/k3/s2/p1" (default: the issue's shape and
//                      C = 2, 3, 4, 8, 16, 32 at stride 2 and stride 1)
//
// Each trial draws x, weight, bias and the upstream gradient g (float64, seeded by the trial index, so every
// configuration sees the same inputs), rounds them to the dtype under test, runs conv2d forward and backward of
// sum(y * g) through libtorch, and compares y, dL/dx and dL/dw with a naive managed float64 convolution on the same
// rounded values. The error is normwise: max |got - ref| / max |ref| over the tensor, over the trials whose tensor is
// finite. libtorch's own float64 convolution (a different, non-oneDNN kernel) is checked against the same reference.
using System.Globalization;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

var options = Options.Parse(args);
Trial.Loss = options.Loss;
var initial = Native.GetEnv("DNNL_MAX_CPU_ISA");

if (options.Isa is not null && options.IsaWhen == "start")
    Native.SetEnv("DNNL_MAX_CPU_ISA", options.Isa);

if (options.IsaWhen == "after-load")
{
    InitializeDeviceType(DeviceType.CPU); // loads libtorch (and runs its static initialisers), no tensor op
    if (options.Isa is not null) Native.SetEnv("DNNL_MAX_CPU_ISA", options.Isa);
}
else if (options.IsaWhen == "after-op")
{
    using var warm = ones(4, 4).matmul(ones(4, 4));
    if (options.Isa is not null) Native.SetEnv("DNNL_MAX_CPU_ISA", options.Isa);
}
else if (options.IsaWhen == "after-conv")
{
    var shape = Shape.Parse("2,2,8,8>4/k3/s2/p1");
    using var scope = NewDisposeScope();
    Trial.RunLibTorch(shape, Trial.Inputs(shape, 0, ScalarType.Float32));
    if (options.Isa is not null) Native.SetEnv("DNNL_MAX_CPU_ISA", options.Isa);
}

if (options.MkldnnOff) Native.DisableMkldnn();

if (options.Bench > 0)
{
    // Speed: median milliseconds of one float32 forward + backward per shape, after 3 warm-up iterations.
    var shapes = args.Contains("--shapes") ? options.Shapes : Options.BenchShapes;
    Console.WriteLine("| shape | threads | median ms (forward + backward) |");
    Console.WriteLine("|---|---|---|");
    foreach (var shape in shapes)
    {
        foreach (var threads in options.Threads)
        {
            set_num_threads(threads);
            using var inputs = NewDisposeScope();
            var data = Trial.Inputs(shape, 0, ScalarType.Float32);
            var times = new List<double>();
            for (var iteration = -3; iteration < options.Bench; iteration++)
            {
                using var scope = NewDisposeScope();
                var watch = System.Diagnostics.Stopwatch.StartNew();
                Trial.RunLibTorch(shape, data, copy: false);
                if (iteration >= 0) times.Add(watch.Elapsed.TotalMilliseconds);
            }
            times.Sort();
            Console.WriteLine($"| {shape} | {threads} | {times[times.Count / 2]:0.000} |");
        }
    }
    return;
}

if (options.Literal)
{
    // The issue's check as written: a new Conv2d(2→4, 3×3, stride 2, padding 1) each trial, default init,
    // x = randn([2, 2, 8, 8]) requiring grad, conv(x).sum().backward(), is x.grad finite?
    foreach (var threads in options.Threads)
    {
        var nonFinite = 0;
        var used = 0;
        var workers = Enumerable.Range(0, options.Concurrent).Select(_ => new Thread(() =>
        {
            // libtorch's OpenMP thread count is per calling thread: a new thread starts at the default.
            set_num_threads(threads);
            used = get_num_threads();
            for (var trial = 0; trial < options.Trials; trial++)
            {
                using var scope = NewDisposeScope();
                using var conv = nn.Conv2d(2, 4, 3, stride: 2, padding: 1);
                var x = randn(2, 2, 8, 8).requires_grad_();
                conv.call(x).sum().backward();
                if (!x.grad!.isfinite().all().item<bool>()) Interlocked.Increment(ref nonFinite);
            }
        })).ToList();
        workers.ForEach(worker => worker.Start());
        workers.ForEach(worker => worker.Join());
        Console.WriteLine($"literal: threads {used}, {options.Concurrent} managed thread(s): non-finite input gradient in {nonFinite}/{options.Trials * options.Concurrent} trials");
    }
    return;
}

Console.WriteLine($"# conv-check: DNNL_MAX_CPU_ISA at start = {initial ?? "(unset)"}, now = {Native.GetEnv("DNNL_MAX_CPU_ISA") ?? "(unset)"}" +
                  $" (set {options.IsaWhen}), loss {options.Loss}, mkldnn {(options.MkldnnOff ? "off" : "on")}, default intra-op threads {get_num_threads()}," +
                  $" {options.Trials} trials, {Environment.ProcessorCount} logical CPUs, {RuntimeInformation.OSDescription}");
Console.WriteLine();
Console.WriteLine("| shape | threads | dtype | non-finite y | non-finite dx | non-finite dw | max rel err y | max rel err dx | max rel err dw | trials err > 1e-4 | torch f64 vs ref |");
Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|");

foreach (var shape in options.Shapes)
{
    foreach (var threads in options.Threads)
    {
        set_num_threads(threads);
        foreach (var dtype in options.Dtypes)
        {
            var summary = new Summary();
            for (var trial = 0; trial < options.Trials; trial++)
            {
                using var scope = NewDisposeScope();
                var inputs = Trial.Inputs(shape, trial, dtype);
                var reference = NaiveConv.Run(shape, inputs);
                summary.Add(Trial.RunLibTorch(shape, inputs)!, reference);
                summary.AddFloat64(Trial.RunLibTorch(shape, inputs.To(ScalarType.Float64))!, reference);
            }
            Console.WriteLine($"| {shape} | {threads} | {dtype.ToString().ToLowerInvariant()} | {summary.Row(options.Trials)} |");
        }
    }
}

/// <summary>The inputs of one trial, already rounded to the dtype under test.</summary>
sealed record Inputs(Tensor X, Tensor W, Tensor B, Tensor G)
{
    public Inputs To(ScalarType dtype) => new(X.to(dtype), W.to(dtype), B.to(dtype), G.to(dtype));
}

/// <summary>A convolution's y, dL/dx and dL/dw as float64 arrays.</summary>
sealed record Result(double[] Y, double[] Dx, double[] Dw);

/// <summary>One convolution: input [N, C, H, W], weight [O, C, K, K], stride S, padding P.</summary>
sealed record Shape(int N, int C, int H, int W, int O, int K, int S, int P)
{
    public int Ho => (H + 2 * P - K) / S + 1;
    public int Wo => (W + 2 * P - K) / S + 1;

    public static Shape Parse(string text)
    {
        var parts = text.Split('>');
        var input = parts[0].Split(',').Select(int.Parse).ToArray();
        var conv = parts[1].Split('/');
        int Field(char name) => int.Parse(conv.Single(part => part[0] == name)[1..], CultureInfo.InvariantCulture);
        return new Shape(input[0], input[1], input[2], input[3], int.Parse(conv[0], CultureInfo.InvariantCulture), Field('k'), Field('s'), Field('p'));
    }

    public override string ToString() => $"[{N},{C},{H},{W}]→{O} k{K} s{S} p{P}";
}

static class Trial
{
    /// <summary>"weighted": sum(y * g), a dense upstream gradient g; "sum": sum(y), whose upstream gradient is
    /// a ones tensor expanded to y's shape (all strides 0), as in a plain y.sum().backward().</summary>
    public static string Loss = "weighted";

    public static Inputs Inputs(Shape shape, int trial, ScalarType dtype)
    {
        using var generator = new Generator(1000 + (ulong)trial);
        Tensor Draw(params long[] size) => randn(size, ScalarType.Float64, generator: generator).to(dtype);
        return new Inputs(Draw(shape.N, shape.C, shape.H, shape.W), Draw(shape.O, shape.C, shape.K, shape.K),
                          Draw(shape.O), Loss == "sum" ? ones(new long[] { shape.N, shape.O, shape.Ho, shape.Wo }, dtype)
                                                       : Draw(shape.N, shape.O, shape.Ho, shape.Wo));
    }

    public static Result? RunLibTorch(Shape shape, Inputs inputs, bool copy = true)
    {
        var x = inputs.X.detach().requires_grad_();
        var w = inputs.W.detach().requires_grad_();
        var y = nn.functional.conv2d(x, w, inputs.B, strides: [shape.S, shape.S], padding: [shape.P, shape.P]);
        (Loss == "sum" ? y.sum() : (y * inputs.G).sum()).backward();
        return copy ? new Result(ToDoubles(y), ToDoubles(x.grad!), ToDoubles(w.grad!)) : null;
    }

    public static double[] ToDoubles(Tensor tensor) => tensor.detach().to(ScalarType.Float64).contiguous().data<double>().ToArray();
}

/// <summary>Textbook convolution in managed float64: the reference for both libtorch kernels.</summary>
static class NaiveConv
{
    public static Result Run(Shape s, Inputs inputs)
    {
        var x = Trial.ToDoubles(inputs.X);
        var w = Trial.ToDoubles(inputs.W);
        var b = Trial.ToDoubles(inputs.B);
        var g = Trial.ToDoubles(inputs.G);
        var y = new double[s.N * s.O * s.Ho * s.Wo];
        var dx = new double[x.Length];
        var dw = new double[w.Length];
        for (var n = 0; n < s.N; n++)
        for (var o = 0; o < s.O; o++)
        for (var i = 0; i < s.Ho; i++)
        for (var j = 0; j < s.Wo; j++)
        {
            var yi = ((n * s.O + o) * s.Ho + i) * s.Wo + j;
            var sum = b[o];
            for (var c = 0; c < s.C; c++)
            for (var ki = 0; ki < s.K; ki++)
            for (var kj = 0; kj < s.K; kj++)
            {
                int h = i * s.S - s.P + ki, v = j * s.S - s.P + kj;
                if (h < 0 || h >= s.H || v < 0 || v >= s.W) continue;
                var xi = ((n * s.C + c) * s.H + h) * s.W + v;
                var wi = ((o * s.C + c) * s.K + ki) * s.K + kj;
                sum += x[xi] * w[wi];
                dx[xi] += g[yi] * w[wi];
                dw[wi] += g[yi] * x[xi];
            }
            y[yi] = sum;
        }
        return new Result(y, dx, dw);
    }
}

/// <summary>Counts and worst errors over the trials of one configuration.</summary>
sealed class Summary
{
    readonly int[] _nonFinite = new int[3];
    readonly double[] _maxError = new double[3];
    int _wrong;
    double _float64Error;

    public void Add(Result got, Result reference)
    {
        var wrong = false;
        var pairs = new[] { (got.Y, reference.Y), (got.Dx, reference.Dx), (got.Dw, reference.Dw) };
        for (var k = 0; k < pairs.Length; k++)
        {
            if (!pairs[k].Item1.All(double.IsFinite)) { _nonFinite[k]++; continue; }
            var error = RelativeError(pairs[k].Item1, pairs[k].Item2);
            _maxError[k] = Math.Max(_maxError[k], error);
            wrong |= error > 1e-4;
        }
        if (wrong) _wrong++;
    }

    public void AddFloat64(Result got, Result reference) =>
        _float64Error = Math.Max(_float64Error, new[] { (got.Y, reference.Y), (got.Dx, reference.Dx), (got.Dw, reference.Dw) }
            .Max(pair => pair.Item1.All(double.IsFinite) ? RelativeError(pair.Item1, pair.Item2) : double.PositiveInfinity));

    public string Row(int trials) =>
        $"{_nonFinite[0]}/{trials} | {_nonFinite[1]}/{trials} | {_nonFinite[2]}/{trials} | " +
        $"{_maxError[0]:0.0e+0} | {_maxError[1]:0.0e+0} | {_maxError[2]:0.0e+0} | {_wrong}/{trials} | {_float64Error:0.0e+0}";

    static double RelativeError(double[] got, double[] reference)
    {
        double difference = 0, scale = 0;
        for (var i = 0; i < got.Length; i++)
        {
            difference = Math.Max(difference, Math.Abs(got[i] - reference[i]));
            scale = Math.Max(scale, Math.Abs(reference[i]));
        }
        return scale == 0 ? difference : difference / scale;
    }
}

sealed record Options(string? Isa, string IsaWhen, bool MkldnnOff, string Loss, bool Literal, int Concurrent, int Bench, int Trials, int[] Threads, ScalarType[] Dtypes, Shape[] Shapes)
{
    static readonly string DefaultShapes = string.Join(';',
        new[] { "2,2,8,8>4/k3/s2/p1" }
            .Concat(new[] { 2, 3, 4, 8, 16, 32 }.Select(c => $"2,{c},8,8>{c}/k3/s2/p1"))
            .Concat(new[] { 2, 3, 4, 8, 16, 32 }.Select(c => $"2,{c},8,8>{c}/k3/s1/p1")));

    /// <summary>The sample teacher's convolution shapes at its defaults (batch 8, 96 px images; widths 32..256, FPN 64).</summary>
    public static readonly Shape[] BenchShapes = new[]
    {
        "8,3,96,96>32/k3/s2/p1", "8,32,24,24>32/k3/s1/p1", "8,32,24,24>64/k3/s2/p1", "8,64,12,12>64/k3/s1/p1",
        "8,128,6,6>128/k3/s1/p1", "8,64,24,24>64/k3/s1/p1", "2,2,8,8>4/k3/s2/p1",
    }.Select(Shape.Parse).ToArray();

    public static Options Parse(string[] args)
    {
        string Value(string name, string fallback)
        {
            var at = Array.IndexOf(args, name);
            return at >= 0 && at + 1 < args.Length ? args[at + 1] : fallback;
        }
        var isa = Value("--isa", "");
        return new Options(
            isa.Length == 0 ? null : isa,
            Value("--isa-when", "start"),
            Value("--mkldnn", "on") == "off",
            Value("--loss", "weighted"),
            args.Contains("--literal"),
            int.Parse(Value("--concurrent", "1"), CultureInfo.InvariantCulture),
            int.Parse(Value("--bench", "0"), CultureInfo.InvariantCulture),
            int.Parse(Value("--trials", "200"), CultureInfo.InvariantCulture),
            Value("--threads", "1,2").Split(',').Select(int.Parse).ToArray(),
            Value("--dtypes", "float32,float64").Split(',')
                .Select(name => name == "float64" ? ScalarType.Float64 : ScalarType.Float32).ToArray(),
            Value("--shapes", DefaultShapes).Split(';').Select(Shape.Parse).ToArray());
    }
}

/// <summary>libc's environment (what libtorch and oneDNN read) and libtorch's mkldnn switch.</summary>
static class Native
{
    [DllImport("libc.so.6", EntryPoint = "setenv")]
    static extern int setenv(string name, string value, int overwrite);

    [DllImport("libc.so.6", EntryPoint = "getenv")]
    static extern IntPtr getenv(string name);

    [DllImport("libtorch_cpu.so", EntryPoint = "_ZN2at13globalContextEv")]
    static extern IntPtr GlobalContext();

    [DllImport("libtorch_cpu.so", EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    static extern void SetUserEnabledMkldnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [DllImport("libtorch_cpu.so", EntryPoint = "_ZNK2at7Context17userEnabledMkldnnEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    static extern bool UserEnabledMkldnn(IntPtr context);

    public static void SetEnv(string name, string value)
    {
        if (setenv(name, value, 1) != 0) throw new InvalidOperationException($"setenv({name}) failed");
    }

    public static string? GetEnv(string name) => Marshal.PtrToStringUTF8(getenv(name));

    public static void DisableMkldnn()
    {
        using var load = zeros(1); // loads libtorch through TorchSharp first
        var context = GlobalContext();
        SetUserEnabledMkldnn(context, false);
        if (UserEnabledMkldnn(context)) throw new InvalidOperationException("mkldnn is still enabled");
    }
}
