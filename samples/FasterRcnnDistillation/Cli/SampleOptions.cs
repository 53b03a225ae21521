using System.Globalization;
using FasterRcnnDistillation.Model;

namespace FasterRcnnDistillation.Cli;

/// <summary>
/// Command and settings of one run of the sample. Defaults are the small CPU configuration of <c>compare</c>
/// (96 px synthetic images; see RESULTS.md for its measured time).
/// </summary>
public sealed record SampleOptions
{
    public const string Usage = """
        Usage: dotnet run -c Release --project samples/FasterRcnnDistillation -- [command] [options]

        Commands:
          compare   train teacher, student baseline and DeFeat student; print the results table (default)
          teacher   train the teacher and save it to <output>/teacher.bin
          student   train the student baseline
          distill   train the student with DeFeat from the teacher
          (compare and distill use the shipped teacher, Pretrained/teacher.fp16.bin, unless --teacher FILE)

        Options:
          --seed N                 seed of model init, sampling and batch order (default 1)
          --device cpu|cuda        (default cpu)
          --threads N              torch threads (default: the cores idle at start-up, at least 1;
                                   OMP_NUM_THREADS, when set, is kept)
          --onednn auto|off        CPU convolutions: oneDNN where a start-up check against float64
                                   finds the detectors' convolutions correct (default auto), or off
          --epochs N               student epochs (default 1)
          --teacher-epochs N       teacher epochs (the teacher command; default 1)
          --train-images N         synthetic training images, rendered as needed
                                   (default 7200; teacher: 72000, the shipped teacher's recipe)
          --val-images N           synthetic validation images (default 64)
          --image-size N           image side in pixels (default 96)
          --batch-size N           (default 8)
          --data-seed N            seed of the synthetic data set (default 7)
          --object-weight X        neck λ_obj (default 3)
          --background-weight X    neck λ_bg (default 0: object-only imitation, the best setting on
                                   this data, RESULTS.md; 12 = the official VOC weight)
          --proposal-kd on|off     decoupled proposal classification KD (default off, as in the
                                   official VOC config; RESULTS.md: it did not help here)
          --teacher-dtype float32|bfloat16   the frozen teacher's forward in distill/compare
                                   (default float32; bfloat16 needs --proposal-kd off)
          --kd-balance off|R       DistillationBalancer: hold each KD term's gradient at the student's
                                   features at most R times the detection loss's (default off:
                                   the plain λ; 0.1 made λ 3/12 harmless, RESULTS.md)
          --kd-balance-per level|term   one balance scale per neck level (default) or per term
          --kd-balance-parts all|background   what the balancer scales: both parts (default, keeps
                                   λ_obj : λ_bg) or only the background part (object part at its λ)
          --kd-schedule S          KD weight over training: constant (default), linear-decay,
                                   cosine-decay, delay:N (off for N steps), warmup:N
          --diagnose-every N       every N steps, the gradient balance (GradientBalance) at the
                                   neck and last backbone stage to balance-<run>.csv (default 0: off)
          --optimizer adamw|sgd    (default adamw; sgd: momentum 0.9, clip 35, the official recipe's)
          --lr X                   peak learning rate (default adamw 0.001, sgd 0.02)
          --roi-samples N          RoIs sampled per image for the RoI head (default 128;
                                   512 reproduces the results made before it was 128)
          --coco-train JSON:DIR    train on a COCO-format set instead (instances JSON and image folder)
          --coco-val JSON:DIR      validate on a COCO-format set
          --output DIR             checkpoints, PNGs and results.csv (default artifacts/faster-rcnn)
          --teacher FILE           teacher for compare and distill (default: the shipped one)
          --checkpoint-every N     steps between training checkpoints in <output>/checkpoints/<run> (default 500)
          --resume                 continue each run from its checkpoint (same command and options), if there is one
          --validate-every N       evaluate on the val split every N steps: validation-<run>.csv
                                   (default 0: off; teacher: 1000)

        Options take their value as the next argument or after '=' (--seed 5 or --seed=5).
        """;

    public string Command { get; init; } = "compare";

    public int Seed { get; init; } = 1;

    public string Device { get; init; } = "cpu";

    /// <summary>Torch threads (<c>--threads</c>); null = the cores idle at start-up (or <c>OMP_NUM_THREADS</c> when set).</summary>
    public int? Threads { get; init; }

    /// <summary>Whether the CPU convolutions may use oneDNN after the start-up check (<c>--onednn auto</c>, default) or never (<c>off</c>).</summary>
    public bool OneDnnAllowed { get; init; } = true;

    public int StudentEpochs { get; init; } = 1;

    public int TeacherEpochs { get; init; } = 1;

    /// <summary>Synthetic training images given with <c>--train-images</c>; null = the command's default (<see cref="TrainImageCount"/>).</summary>
    public int? TrainImages { get; init; }

    /// <summary>
    /// Synthetic training images of this run: <c>--train-images</c>, else <see cref="TeacherTrainImages"/> for
    /// <c>teacher</c> (the shipped teacher's recipe) and <see cref="StudentTrainImages"/> for the students. Images are
    /// rendered when a batch needs them, so a large set costs nothing up front; one epoch sees each image once.
    /// </summary>
    public int TrainImageCount => TrainImages ?? (Command == "teacher" ? TeacherTrainImages : StudentTrainImages);

    /// <summary>Default training images of <c>teacher</c>: 9,000 steps of 8 images, each image seen once.</summary>
    public const int TeacherTrainImages = 72_000;

    /// <summary>Default training images of the students (<c>compare</c>, <c>student</c>, <c>distill</c>): 900 steps of 8, what fits <c>compare</c> into about 10 minutes on 2 cores.</summary>
    public const int StudentTrainImages = 7_200;

    public int ValImages { get; init; } = 64;

    public int ImageSize { get; init; } = 96;

    public int BatchSize { get; init; } = 8;

    public int DataSeed { get; init; } = 7;

    public double ObjectWeight { get; init; } = 3;

    /// <summary>Neck λ_bg (<c>--background-weight</c>); default 0, object-only imitation: the best setting of the search and the confirmation (RESULTS.md, "Making DeFeat help").</summary>
    public double BackgroundWeight { get; init; }

    public bool ProposalKd { get; init; }

    /// <summary>Whether distillation runs a bfloat16 copy of the teacher (<c>--teacher-dtype bfloat16</c>); default false, float32.</summary>
    public bool TeacherBfloat16 { get; init; }

    /// <summary>ρ of the KD balancer (<c>--kd-balance</c>); null (default) = off, the plain λ (object-only imitation needs no balance: RESULTS.md).</summary>
    public double? KdBalance { get; init; }

    /// <summary>Whether the balancer scales each level (<c>--kd-balance-per level</c>, default) or each term.</summary>
    public bool KdBalancePerLevel { get; init; } = true;

    /// <summary>Whether the balancer scales only the background part (<c>--kd-balance-parts background</c>) instead of both (<c>all</c>, default).</summary>
    public bool KdBalanceBackgroundOnly { get; init; }

    /// <summary>The KD weight schedule (<c>--kd-schedule</c>): constant, linear-decay, cosine-decay, delay:N or warmup:N.</summary>
    public string KdSchedule { get; init; } = "constant";

    /// <summary>Steps between gradient-balance diagnostics (<c>--diagnose-every</c>); 0 = none.</summary>
    public int DiagnoseEvery { get; init; }

    /// <summary>adamw or sgd (<c>--optimizer</c>).</summary>
    public string Optimizer { get; init; } = "adamw";

    /// <summary>Peak learning rate given with <c>--lr</c>; null = the optimiser's default (<see cref="LearningRate"/>).</summary>
    public double? Lr { get; init; }

    /// <summary>The peak learning rate of this run: <c>--lr</c>, else 0.001 for AdamW and 0.02 for SGD.</summary>
    public double LearningRate => Lr ?? (Optimizer == "sgd" ? 0.02 : 1e-3);

    /// <summary>RoIs sampled per image for the RoI heads of every model the run trains (<see cref="DetectorConfig.RoiSamples"/>).</summary>
    public int RoiSamples { get; init; } = DetectorConfig.DefaultRoiSamples;

    public string? CocoTrain { get; init; }

    public string? CocoVal { get; init; }

    public string Output { get; init; } = Path.Combine("artifacts", "faster-rcnn");

    /// <summary>The teacher checkpoint <c>distill</c> reads; null = <see cref="TeacherPath"/>'s default, &lt;output&gt;/teacher.bin.</summary>
    public string? Teacher { get; init; }

    /// <summary>Steps between training checkpoints.</summary>
    public int CheckpointEvery { get; init; } = 500;

    /// <summary>Whether runs continue from their checkpoints.</summary>
    public bool Resume { get; init; }

    /// <summary>Steps between validation points given with <c>--validate-every</c>; null = the command's default.</summary>
    public int? ValidateEvery { get; init; }

    /// <summary>Steps between validation points of this run: <c>--validate-every</c>, else 1,000 for <c>teacher</c> (its learning curve), 0 (none) otherwise.</summary>
    public int ValidationInterval => ValidateEvery ?? (Command == "teacher" ? 1000 : 0);

    /// <summary>Parses the command line; throws <see cref="ArgumentException"/> naming the bad argument.</summary>
    public static SampleOptions Parse(IReadOnlyList<string> args)
    {
        var options = new SampleOptions();
        int i = 0;
        if (args.Count > 0 && !args[0].StartsWith("--", StringComparison.Ordinal))
        {
            options = options with { Command = args[0] };
            i = 1;
        }

        if (options.Command is not ("compare" or "teacher" or "student" or "distill"))
        {
            throw new ArgumentException($"Unknown command '{options.Command}'; expected compare, teacher, student or distill.");
        }

        while (i < args.Count)
        {
            string name = args[i];
            if (name == "--resume")
            {
                options = options with { Resume = true };
                i += 1;
                continue;
            }

            string value;
            int equals = name.IndexOf('=', StringComparison.Ordinal);
            if (name.StartsWith("--", StringComparison.Ordinal) && equals > 0)
            {
                (name, value) = (name[..equals], name[(equals + 1)..]);
                i += 1;
            }
            else
            {
                value = i + 1 < args.Count ? args[i + 1] : throw new ArgumentException($"Option {name} needs a value (e.g. {name} VALUE or {name}=VALUE).");
                i += 2;
            }

            options = name switch
            {
                "--seed" => options with { Seed = Int(name, value, 0) },
                "--threads" => options with { Threads = Int(name, value, 1) },
                "--onednn" => options with { OneDnnAllowed = value switch
                {
                    "auto" => true,
                    "off" => false,
                    _ => throw new ArgumentException($"--onednn expects auto or off, got '{value}'."),
                } },
                "--device" => options with { Device = value is "cpu" or "cuda" ? value : throw new ArgumentException($"--device expects cpu or cuda, got '{value}'.") },
                "--epochs" => options with { StudentEpochs = Int(name, value, 1) },
                "--teacher-epochs" => options with { TeacherEpochs = Int(name, value, 1) },
                "--train-images" => options with { TrainImages = Int(name, value, 1) },
                "--val-images" => options with { ValImages = Int(name, value, 1) },
                "--image-size" => options with { ImageSize = Int(name, value, 64) },
                "--batch-size" => options with { BatchSize = Int(name, value, 1) },
                "--data-seed" => options with { DataSeed = Int(name, value, 0) },
                "--object-weight" => options with { ObjectWeight = Weight(name, value) },
                "--background-weight" => options with { BackgroundWeight = Weight(name, value) },
                "--teacher-dtype" => options with { TeacherBfloat16 = value switch
                {
                    "float32" => false,
                    "bfloat16" => true,
                    _ => throw new ArgumentException($"--teacher-dtype expects float32 or bfloat16, got '{value}'."),
                } },
                "--proposal-kd" => options with { ProposalKd = value switch
                {
                    "on" => true,
                    "off" => false,
                    _ => throw new ArgumentException($"--proposal-kd expects on or off, got '{value}'."),
                } },
                "--roi-samples" => options with { RoiSamples = Int(name, value, 1) },
                "--kd-balance" => options with { KdBalance = value == "off" ? null : Positive(name, value) },
                "--kd-balance-per" => options with { KdBalancePerLevel = value switch
                {
                    "level" => true,
                    "term" => false,
                    _ => throw new ArgumentException($"--kd-balance-per expects level or term, got '{value}'."),
                } },
                "--kd-balance-parts" => options with { KdBalanceBackgroundOnly = value switch
                {
                    "all" => false,
                    "background" => true,
                    _ => throw new ArgumentException($"--kd-balance-parts expects all or background, got '{value}'."),
                } },
                "--kd-schedule" => options with { KdSchedule = ScheduleName(value) },
                "--diagnose-every" => options with { DiagnoseEvery = Int(name, value, 0) },
                "--optimizer" => options with { Optimizer = value is "adamw" or "sgd" ? value : throw new ArgumentException($"--optimizer expects adamw or sgd, got '{value}'.") },
                "--lr" => options with { Lr = Positive(name, value) },
                "--coco-train" => options with { CocoTrain = value },
                "--coco-val" => options with { CocoVal = value },
                "--output" => options with { Output = value },
                "--teacher" => options with { Teacher = value },
                "--checkpoint-every" => options with { CheckpointEvery = Int(name, value, 1) },
                "--validate-every" => options with { ValidateEvery = Int(name, value, 0) },
                _ => throw new ArgumentException($"Unknown option '{name}'."),
            };
        }

        return options;
    }

    /// <summary>The teacher <c>compare</c> and <c>distill</c> use: <c>--teacher</c>, else the shipped one.</summary>
    public string TeacherPath => Teacher ?? TeacherCheckpoint.ShippedPath;

    /// <summary>
    /// Checks what depends on this machine and its files, before any work starts: the device exists, COCO paths exist
    /// (both or neither), and <c>distill</c> has a teacher checkpoint. Throws <see cref="ArgumentException"/> naming it.
    /// </summary>
    public void Validate(Func<bool> cudaAvailable)
    {
        if (TeacherBfloat16 && ProposalKd)
        {
            throw new ArgumentException("--teacher-dtype bfloat16 runs only the teacher's backbone and neck in bfloat16: use it with --proposal-kd off.");
        }

        if (Device == "cuda" && !cudaAvailable())
        {
            throw new ArgumentException("--device cuda was requested but no CUDA device is available (this build uses the TorchSharp-cpu backend); use --device cpu.");
        }

        if (CocoTrain is null != CocoVal is null)
        {
            throw new ArgumentException("Give both --coco-train and --coco-val, or neither.");
        }

        foreach (var (name, spec) in new[] { ("--coco-train", CocoTrain), ("--coco-val", CocoVal) })
        {
            if (spec is null)
            {
                continue;
            }

            int colon = spec.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new ArgumentException($"{name} expects ANNOTATIONS.json:IMAGE_DIR, got '{spec}'.");
            }

            if (!File.Exists(spec[..colon]))
            {
                throw new ArgumentException($"{name}: the annotations file '{spec[..colon]}' does not exist.");
            }

            if (!System.IO.Directory.Exists(spec[(colon + 1)..]))
            {
                throw new ArgumentException($"{name}: the image folder '{spec[(colon + 1)..]}' does not exist.");
            }
        }

        if (Command is "compare" or "distill")
        {
            if (Teacher is null && (CocoTrain is not null || ImageSize != ShippedTeacherImageSize))
            {
                throw new ArgumentException(
                    $"The shipped teacher was trained on the built-in data at {ShippedTeacherImageSize} px: for {(CocoTrain is not null ? "COCO data" : $"--image-size {ImageSize}")} train one with the 'teacher' command and pass it with --teacher FILE.");
            }

            if (TeacherCheckpoint.Problem(TeacherPath) is { } problem)
            {
                throw new ArgumentException(problem);
            }
        }
    }

    /// <summary>Image side the shipped teacher was trained at.</summary>
    public const int ShippedTeacherImageSize = 96;

    private static int Int(string name, string value, int minimum)
        => int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int result) && result >= minimum
            ? result
            : throw new ArgumentException($"{name} expects an integer ≥ {minimum}, got '{value}'.");

    private static double Positive(string name, string value)
        => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double result) && result > 0 && double.IsFinite(result)
            ? result
            : throw new ArgumentException($"{name} expects a finite number > 0 (or off), got '{value}'.");

    private static string ScheduleName(string value)
    {
        if (value is "constant" or "linear-decay" or "cosine-decay")
        {
            return value;
        }

        int colon = value.IndexOf(':', StringComparison.Ordinal);
        if (colon > 0 && value[..colon] is "delay" or "warmup"
            && int.TryParse(value[(colon + 1)..], NumberStyles.Integer, CultureInfo.InvariantCulture, out int steps) && steps >= 1)
        {
            return value;
        }

        throw new ArgumentException($"--kd-schedule expects constant, linear-decay, cosine-decay, delay:N or warmup:N (N ≥ 1 steps), got '{value}'.");
    }

    private static double Weight(string name, string value)
        => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double result) && result >= 0 && double.IsFinite(result)
            ? result
            : throw new ArgumentException($"{name} expects a finite number ≥ 0, got '{value}'.");
}
