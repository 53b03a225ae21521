using System.Diagnostics;
using System.Globalization;
using DeFeat.Hooks.Terms;
using DeFeat.Hooks.Schedules;
using FasterRcnnDistillation.Cli;
using FasterRcnnDistillation.Data;
using FasterRcnnDistillation.Distillation;
using FasterRcnnDistillation.Model;
using FasterRcnnDistillation.Platform;
using FasterRcnnDistillation.Reporting;
using FasterRcnnDistillation.Training;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Experiments;

/// <summary>Runs the sample's commands: teacher, student, distill and compare.</summary>
public sealed class ExperimentRunner
{
    private readonly SampleOptions options;
    private readonly Device device;
    private readonly DetectionDataset train;
    private readonly DetectionDataset val;
    private readonly Dictionary<string, List<Dictionary<string, double>>> histories = new();
    private readonly FasterRcnn? loadedTeacher;

    /// <summary>
    /// Prepares a run: the data (rendered on demand, so this is quick) and, for <c>compare</c> and <c>distill</c>, the
    /// teacher checkpoint. Throws <see cref="ArgumentException"/> with one line for the user when the checkpoint is not
    /// a teacher of this architecture, before any work starts.
    /// </summary>
    public ExperimentRunner(SampleOptions options)
    {
        this.options = options;
        device = new Device(options.Device);
        (train, val) = LoadData();
        if (options.Command is "compare" or "distill")
        {
            // On the training device from the start: distill runs the teacher before anything else moves it there.
            loadedTeacher = TeacherCheckpoint.Load(options.TeacherPath, Classes, options.RoiSamples);
            loadedTeacher.to(device);
        }

        Directory.CreateDirectory(options.Output);
    }

    private int Classes => train.ClassNames.Count;

    /// <summary>The object masks' canonical size for this run's images (<see cref="DistillationOptions.ForImageSize"/>).</summary>
    private double MaskCanonicalSize => DistillationOptions.ForImageSize(train.ImageSize);

    private string DistillSettings => string.Create(CultureInfo.InvariantCulture,
        $"λ {options.ObjectWeight}/{options.BackgroundWeight}, KD {(options.ProposalKd ? "on" : "off")}{(options.TeacherBfloat16 ? ", teacher bf16" : "")}")
        + (options.KdBalance is { } ratio ? string.Create(CultureInfo.InvariantCulture, $", balance ρ {ratio}{(options.KdBalancePerLevel ? "" : " per term")}{(options.KdBalanceBackgroundOnly ? " bg only" : "")}") : "")
        + (options.KdSchedule == "constant" ? "" : $", {options.KdSchedule}")
        + OptimizerSettings;

    /// <summary>The optimiser when it is not the default, e.g. ", SGD lr 0.02".</summary>
    private string OptimizerSettings => options.Optimizer == "sgd" || options.Lr is not null
        ? string.Create(CultureInfo.InvariantCulture, $", {options.Optimizer} lr {options.LearningRate}")
        : "";

    /// <summary>
    /// The DeFeat settings in file names, e.g. <c>obj3-bg12-kdon</c> (plus <c>-bal0.1</c>, <c>-linear-decay</c>,
    /// <c>-sgd0.02</c> when set), so that ablations do not overwrite each other.
    /// </summary>
    private string SettingsSuffix => string.Create(CultureInfo.InvariantCulture,
        $"obj{options.ObjectWeight}-bg{options.BackgroundWeight}-kd{(options.ProposalKd ? "on" : "off")}{(options.TeacherBfloat16 ? "-tbf16" : "")}")
        + (options.KdBalance is { } ratio ? string.Create(CultureInfo.InvariantCulture, $"-bal{(options.KdBalancePerLevel ? "" : "term")}{(options.KdBalanceBackgroundOnly ? "bg" : "")}{ratio}") : "")
        + (options.KdSchedule == "constant" ? "" : "-" + options.KdSchedule.Replace(':', '_'))
        + OptimizerSuffix;

    /// <summary>The optimiser in file names when it is not the default, e.g. <c>-sgd0.02</c>.</summary>
    private string OptimizerSuffix => options.Optimizer == "sgd" || options.Lr is not null
        ? string.Create(CultureInfo.InvariantCulture, $"-{options.Optimizer}{options.LearningRate}")
        : "";

    /// <summary>Steps of one student run (for the KD schedules).</summary>
    private long StudentSteps => (long)Math.Max(1, train.Count / options.BatchSize) * options.StudentEpochs;

    private WeightSchedule? Schedule => options.KdSchedule switch
    {
        "constant" => null,
        "linear-decay" => new LinearDecaySchedule(StudentSteps),
        "cosine-decay" => new CosineDecaySchedule(StudentSteps),
        var s when s.StartsWith("delay:", StringComparison.Ordinal) => new DelayedStartSchedule(int.Parse(s[6..], CultureInfo.InvariantCulture), new ConstantSchedule()),
        var s => new LinearWarmupSchedule(int.Parse(s[7..], CultureInfo.InvariantCulture)),
    };

    public void Run()
    {
        AnsiConsole.MarkupLine(Markup.Escape(
            $"data: {train.Count} train / {val.Count} val images of {train.ImageSize} px, {Classes} classes; device {device.type}; seed {options.Seed}"));
        if (device.type == TorchSharp.DeviceType.CPU)
        {
            AnsiConsole.MarkupLine(Markup.Escape(CpuConvolutions.Choose(Classes, options.OneDnnAllowed)));
        }

        // After the check, which gives what launched this process (e.g. dotnet run's build) time to finish.
        AnsiConsole.MarkupLine(Markup.Escape(TorchThreads.Choose(options.Threads)));

        var results = new List<ModelResult>();
        var pictureModels = new List<(string, FasterRcnn)>();
        switch (options.Command)
        {
            case "teacher":
                results.Add(TrainTeacher(out var teacherOnly));
                pictureModels.Add(("teacher", teacherOnly));
                break;
            case "student":
                results.Add(TrainStudent(out var studentOnly));
                pictureModels.Add(("student", studentOnly));
                break;
            case "distill":
                results.Add(Distill(loadedTeacher!, out var distilledOnly));
                pictureModels.Add(("student + DeFeat", distilledOnly));
                break;
            default:
                var teacher = loadedTeacher!;
                results.Add(EvaluateTeacher(teacher));
                results.Add(TrainStudent(out var student));
                results.Add(Distill(teacher, out var distilled));
                pictureModels.AddRange(new[] { ("teacher", teacher), ("student", student), ("student + DeFeat", distilled) });
                break;
        }

        ResultsTable.Print(results);
        ResultsTable.AppendCsv(Path.Combine(options.Output, "results.csv"), results);
        string suffix = options.Command is "student" or "teacher"
            ? $"{options.Command}-seed{options.Seed}{OptimizerSuffix}"
            : $"{options.Command}-seed{options.Seed}-{SettingsSuffix}";
        string curves = Path.Combine(options.Output, $"losses-{suffix}.png");
        LossCurvePlot.Save(curves, histories, new[] { "detection", "neck_object", "neck_background", "proposal_object", "proposal_background" },
            options.ProposalKd && histories.ContainsKey("student + DeFeat")
                ? "student + DeFeat: its detection loss is computed on the teacher's sampled RoIs\n(proposal KD), not its own, so it is not comparable with the baseline's"
                : null);
        string picture = Path.Combine(options.Output, $"detections-{suffix}.png");
        DetectionPicture.Save(picture, val, pictureModels, images: 4, device, MaskCanonicalSize);
        AnsiConsole.MarkupLine(Markup.Escape($"wrote {curves}, {picture} and {Path.Combine(options.Output, "results.csv")}"));
    }

    /// <summary>Trains a teacher; saves it as <c>&lt;output&gt;/teacher.bin</c> (float32) and <c>teacher.fp16.bin</c> (what the sample ships).</summary>
    private ModelResult TrainTeacher(out FasterRcnn teacher)
    {
        teacher = NewModel(DetectorConfig.Teacher(Classes));
        var trained = teacher;
        return TrainAndEvaluate("teacher", TeacherSettings, teacher, options.TeacherEpochs, null, () =>
        {
            trained.save(Path.Combine(options.Output, "teacher.bin"));
            string half = Path.Combine(options.Output, "teacher.fp16.bin");
            TeacherCheckpoint.SaveHalf(trained, half);
            AnsiConsole.MarkupLine(Markup.Escape($"saved {Path.Combine(options.Output, "teacher.bin")} and {half} (SHA-256 {TeacherCheckpoint.Sha256Of(half)})"));
        });
    }

    /// <summary>Evaluates the loaded teacher (the shipped one unless --teacher) on the val split.</summary>
    private ModelResult EvaluateTeacher(FasterRcnn teacher)
    {
        var metrics = Trainer.Evaluate(teacher, val, device);
        string source = options.Teacher is null ? "shipped" : Path.GetFileName(options.TeacherPath);
        AnsiConsole.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"teacher ({source}, {options.TeacherPath}): mAP {100 * metrics.Map:F1}, mAP@.5 {100 * metrics.Map50:F1}")));
        return new ModelResult("teacher", $"R34, {source}", Seed: null, metrics, TrainingTime: null);
    }

    private const string TeacherSettings = "R34, FPN 64";

    private ModelResult TrainStudent(out FasterRcnn student)
    {
        student = NewModel(DetectorConfig.Student(Classes));
        return TrainAndEvaluate("student", "R18, baseline" + OptimizerSettings, student, options.StudentEpochs, null);
    }

    private ModelResult Distill(FasterRcnn teacher, out FasterRcnn student)
    {
        student = NewModel(DetectorConfig.Student(Classes));
        // A bfloat16 copy for distillation only: the float32 teacher stays as loaded for its evaluation and pictures.
        using var bfloat16Teacher = options.TeacherBfloat16
            ? (FasterRcnn)TeacherCheckpoint.Load(options.TeacherPath, Classes, options.RoiSamples).to(device).to(ScalarType.BFloat16)
            : null;
        using var referenceTeacher = StepProfile.Enabled ? BareTeacherCopy() : null;
        var objective = new DeFeatObjective(bfloat16Teacher ?? teacher, student, new DistillationOptions
        {
            ReferenceTeacher = referenceTeacher,
            TeacherBfloat16 = options.TeacherBfloat16,
            NeckObjectWeight = options.ObjectWeight,
            NeckBackgroundWeight = options.BackgroundWeight,
            ProposalKd = options.ProposalKd,
            MaskCanonicalSize = MaskCanonicalSize,
            Schedule = Schedule,
            BalanceRatio = options.KdBalance,
            BalancePerLevel = options.KdBalancePerLevel,
            BalanceBackgroundOnly = options.KdBalanceBackgroundOnly,
            DiagnosticsFile = options.DiagnoseEvery > 0 ? Path.Combine(options.Output, $"balance-distill-seed{options.Seed}-{SettingsSuffix}.csv") : null,
            DiagnoseEvery = Math.Max(1, options.DiagnoseEvery),
        }, device);
        return TrainAndEvaluate("student + DeFeat", DistillSettings, student, options.StudentEpochs, objective);
    }

    /// <summary>The step profile's bare-inference reference: the teacher loaded again, frozen by hand, nothing attached.</summary>
    private FasterRcnn BareTeacherCopy()
    {
        var copy = TeacherCheckpoint.Load(options.TeacherPath, Classes, options.RoiSamples);
        copy.to(device);
        if (options.TeacherBfloat16)
        {
            copy.to(ScalarType.BFloat16);
        }

        copy.eval();
        foreach (var parameter in copy.parameters())
        {
            parameter.requires_grad = false;
        }

        return copy;
    }

    private FasterRcnn NewModel(DetectorConfig config)
    {
        manual_seed(options.Seed);
        return new FasterRcnn(config with { RoiSamples = options.RoiSamples });
    }

    /// <summary>
    /// Trains (disposing the objective, which detaches it, right after) and evaluates on the val split. The run
    /// checkpoints to <c>&lt;output&gt;/checkpoints/&lt;run&gt;</c> and, with <c>--resume</c>, continues from there.
    /// </summary>
    private ModelResult TrainAndEvaluate(
        string name, string settings, FasterRcnn model, int epochs, DeFeatObjective? objective, Action? afterTraining = null)
    {
        string run = name switch
        {
            "teacher" => $"teacher-seed{options.Seed}{OptimizerSuffix}",
            "student" => $"student-seed{options.Seed}{OptimizerSuffix}",
            _ => $"distill-seed{options.Seed}-{SettingsSuffix}",
        };
        var trainingOptions = new TrainingOptions
        {
            Epochs = epochs,
            BatchSize = options.BatchSize,
            Optimizer = options.Optimizer,
            LearningRate = options.LearningRate,
            ClipNorm = options.Optimizer == TrainingOptions.Sgd ? 35.0 : 10.0,
            Seed = options.Seed,
            Device = device,
            CheckpointFolder = Path.Combine(options.Output, "checkpoints", run),
            CheckpointEvery = options.CheckpointEvery,
            Resume = options.Resume,
            Validation = options.ValidationInterval > 0 ? val : null,
            ValidateEvery = options.ValidationInterval,
        };
        var clock = Stopwatch.StartNew();
        TrainingRun training;
        using (objective)
        {
            training = Trainer.Train(model, train, trainingOptions, name, objective);
        }

        clock.Stop();
        afterTraining?.Invoke();
        histories[name] = training.History
            .Select(step => new Dictionary<string, double>(step) { ["detection"] = step["rpn_cls"] + step["rpn_reg"] + step["rcnn_cls"] + step["rcnn_reg"] })
            .ToList();
        if (training.Validation.Count > 0)
        {
            ValidationCurve.Save(Path.Combine(options.Output, $"validation-{run}.csv"), training.Validation);
        }

        var metrics = Trainer.Evaluate(model, val, device);
        AnsiConsole.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"{name}: mAP {100 * metrics.Map:F1}, mAP@.5 {100 * metrics.Map50:F1} (trained in {clock.Elapsed:h\\:mm\\:ss})")));
        return new ModelResult(name, settings, options.Seed, metrics, clock.Elapsed);
    }

    private (DetectionDataset Train, DetectionDataset Val) LoadData()
    {
        if (options.CocoTrain is not null)
        {
            return (LoadCoco(options.CocoTrain), LoadCoco(options.CocoVal!));
        }

        return SyntheticShapes.Splits(options.TrainImageCount, options.ValImages, options.DataSeed, options.ImageSize);
    }

    private DetectionDataset LoadCoco(string spec)
    {
        int colon = spec.IndexOf(':', StringComparison.Ordinal); // checked by SampleOptions.Validate
        return CocoDataset.Load(spec[..colon], spec[(colon + 1)..], options.ImageSize);
    }
}
