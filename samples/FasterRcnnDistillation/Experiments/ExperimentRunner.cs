using System.Diagnostics;
using System.Globalization;
using FasterRcnnDistillation.Cli;
using FasterRcnnDistillation.Data;
using FasterRcnnDistillation.Distillation;
using FasterRcnnDistillation.Model;
using FasterRcnnDistillation.Reporting;
using FasterRcnnDistillation.Training;
using Spectre.Console;
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

    public ExperimentRunner(SampleOptions options)
    {
        this.options = options;
        device = new Device(options.Device);
        (train, val) = LoadData();
        Directory.CreateDirectory(options.Output);
    }

    /// <summary>Where a run saves its teacher: <c>teacher</c> writes the checkpoint <c>distill</c> reads; <c>compare</c> keeps its own.</summary>
    private string SavedTeacherPath => options.Command == "teacher"
        ? Path.Combine(options.Output, "teacher.bin")
        : Path.Combine(options.Output, $"compare-teacher-seed{options.Seed}.bin");

    private int Classes => train.ClassNames.Count;

    private string DistillSettings => string.Create(CultureInfo.InvariantCulture,
        $"neck λ_obj {options.ObjectWeight} λ_bg {options.BackgroundWeight}, proposal KD {(options.ProposalKd ? "on" : "off")}");

    /// <summary>The DeFeat settings in file names, e.g. <c>obj3-bg12-kdon</c>, so that ablations do not overwrite each other.</summary>
    private string SettingsSuffix => string.Create(CultureInfo.InvariantCulture,
        $"obj{options.ObjectWeight}-bg{options.BackgroundWeight}-kd{(options.ProposalKd ? "on" : "off")}");

    public void Run()
    {
        AnsiConsole.MarkupLine(Markup.Escape(
            $"data: {train.Count} train / {val.Count} val images of {train.ImageSize} px, {Classes} classes; device {device.type}; seed {options.Seed}"));
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
                results.Add(Distill(LoadTeacher(), out var distilledOnly));
                pictureModels.Add(("student + DeFeat", distilledOnly));
                break;
            default:
                results.Add(TrainTeacher(out var teacher));
                results.Add(TrainStudent(out var student));
                results.Add(Distill(teacher, out var distilled));
                pictureModels.AddRange(new[] { ("teacher", teacher), ("student", student), ("student + DeFeat", distilled) });
                break;
        }

        ResultsTable.Print(results);
        ResultsTable.AppendCsv(Path.Combine(options.Output, "results.csv"), results);
        string suffix = options.Command is "student" or "teacher"
            ? $"{options.Command}-seed{options.Seed}"
            : $"{options.Command}-seed{options.Seed}-{SettingsSuffix}";
        string curves = Path.Combine(options.Output, $"losses-{suffix}.png");
        LossCurvePlot.Save(curves, histories, new[] { "detection", "neck_object", "neck_background", "proposal_object", "proposal_background" });
        string picture = Path.Combine(options.Output, $"detections-{suffix}.png");
        DetectionPicture.Save(picture, val, pictureModels, images: 4, device);
        AnsiConsole.MarkupLine(Markup.Escape($"wrote {curves}, {picture} and {Path.Combine(options.Output, "results.csv")}"));
    }

    private ModelResult TrainTeacher(out FasterRcnn teacher)
    {
        teacher = NewModel(DetectorConfig.Teacher(Classes));
        var saveBeforeEvaluation = teacher;
        return TrainAndEvaluate("teacher", "ResNet-34-like, FPN 64", teacher, options.TeacherEpochs, null, () => saveBeforeEvaluation.save(SavedTeacherPath));
    }

    private ModelResult TrainStudent(out FasterRcnn student)
    {
        student = NewModel(DetectorConfig.Student(Classes));
        return TrainAndEvaluate("student", "ResNet-18-like, FPN 32", student, options.StudentEpochs, null);
    }

    private ModelResult Distill(FasterRcnn teacher, out FasterRcnn student)
    {
        student = NewModel(DetectorConfig.Student(Classes));
        var objective = new DeFeatObjective(teacher, student, new DistillationSettings
        {
            NeckObjectWeight = options.ObjectWeight,
            NeckBackgroundWeight = options.BackgroundWeight,
            ProposalKd = options.ProposalKd,
        }, device);
        return TrainAndEvaluate("student + DeFeat", DistillSettings, student, options.StudentEpochs, objective);
    }

    private FasterRcnn LoadTeacher()
    {
        var teacher = new FasterRcnn(DetectorConfig.Teacher(Classes));
        teacher.load(options.TeacherPath);
        return teacher;
    }

    private FasterRcnn NewModel(DetectorConfig config)
    {
        manual_seed(options.Seed);
        return new FasterRcnn(config);
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
            "teacher" => $"teacher-seed{options.Seed}",
            "student" => $"student-seed{options.Seed}",
            _ => $"distill-seed{options.Seed}-{SettingsSuffix}",
        };
        var trainingOptions = new TrainingOptions
        {
            Epochs = epochs,
            BatchSize = options.BatchSize,
            Seed = options.Seed,
            Device = device,
            CheckpointFolder = Path.Combine(options.Output, "checkpoints", run),
            CheckpointEvery = options.CheckpointEvery,
            Resume = options.Resume,
            Validation = options.ValidateEvery > 0 ? val : null,
            ValidateEvery = options.ValidateEvery,
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

        return SyntheticShapes.Splits(options.TrainImages, options.ValImages, options.DataSeed, options.ImageSize);
    }

    private DetectionDataset LoadCoco(string spec)
    {
        int colon = spec.IndexOf(':', StringComparison.Ordinal); // checked by SampleOptions.Validate
        return CocoDataset.Load(spec[..colon], spec[(colon + 1)..], options.ImageSize);
    }
}
