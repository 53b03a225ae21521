using System.Globalization;
using System.Text.Json;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Training;

/// <summary>
/// Everything a training run needs to continue exactly where it stopped, kept in one folder: the model's weights and
/// buffers (<c>model.bin</c>), the optimiser's state (<c>optimizer.bin</c>), the distillation objective's adaptation
/// layers and step (<c>objective.bin</c>, when distilling), the torch random generator (<c>rng.bin</c>) and
/// <c>progress.json</c> (next step, the run's settings, the per-step loss history and the validation curve). The batch
/// order is replayed from the seed, so it needs no state of its own. A checkpoint is written to a sibling folder and
/// then renamed into place: a run killed while saving leaves the previous checkpoint intact.
/// </summary>
public static class TrainingCheckpoint
{
    private const string ProgressFile = "progress.json";

    /// <summary>Whether <paramref name="folder"/> holds a checkpoint.</summary>
    public static bool Exists(string folder) => File.Exists(Path.Combine(folder, ProgressFile));

    /// <summary>Saves the run state after <paramref name="progress"/>.<see cref="TrainingProgress.NextStep"/> steps.</summary>
    public static void Save(
        string folder, TrainingProgress progress, nn.Module model, OptimizerHelper optimizer, IDistillationObjective? objective)
    {
        string full = Path.GetFullPath(folder);
        string staging = full + ".saving";
        if (Directory.Exists(staging))
        {
            Directory.Delete(staging, recursive: true);
        }

        Directory.CreateDirectory(staging);
        model.save(Path.Combine(staging, "model.bin"));
        optimizer.save_state_dict(Path.Combine(staging, "optimizer.bin"));
        objective?.Save(Path.Combine(staging, "objective.bin"));
        using (var state = random.get_rng_state())
        {
            File.WriteAllBytes(Path.Combine(staging, "rng.bin"), state.data<byte>().ToArray());
        }

        File.WriteAllText(Path.Combine(staging, ProgressFile), JsonSerializer.Serialize(progress, JsonOptions));
        string previous = full + ".previous";
        if (Directory.Exists(previous))
        {
            Directory.Delete(previous, recursive: true);
        }

        if (Directory.Exists(full))
        {
            Directory.Move(full, previous);
        }

        Directory.Move(staging, full);
        if (Directory.Exists(previous))
        {
            Directory.Delete(previous, recursive: true);
        }
    }

    /// <summary>
    /// Restores model, optimiser, objective and random generator from <paramref name="folder"/> and returns the
    /// progress. Throws <see cref="InvalidOperationException"/> naming the setting when the checkpoint was made by a
    /// run with other settings (another seed, schedule, batch size, data set size or model).
    /// </summary>
    public static TrainingProgress Load(
        string folder, TrainingRunSettings expected, nn.Module model, OptimizerHelper optimizer, IDistillationObjective? objective)
    {
        var progress = JsonSerializer.Deserialize<TrainingProgress>(File.ReadAllText(Path.Combine(folder, ProgressFile)), JsonOptions)
            ?? throw new InvalidOperationException($"The checkpoint '{folder}' has an empty {ProgressFile}.");
        var mismatches = expected.DifferencesFrom(progress.Settings);
        if (mismatches.Count > 0)
        {
            throw new InvalidOperationException(
                $"The checkpoint '{folder}' was made by a run with other settings ({string.Join("; ", mismatches)}): "
                + "resume with the same command and options, or give another --checkpoint folder to start afresh.");
        }

        model.load(Path.Combine(folder, "model.bin"));
        optimizer.load_state_dict(Path.Combine(folder, "optimizer.bin"));
        if (objective is not null)
        {
            objective.Load(Path.Combine(folder, "objective.bin"));
        }

        byte[] state = File.ReadAllBytes(Path.Combine(folder, "rng.bin"));
        using (var tensorState = tensor(state, dtype: uint8))
        {
            random.set_rng_state(tensorState);
        }

        return progress;
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = false };
}

/// <summary>The settings a checkpoint must agree with to be resumed: what fixes the run's steps and batches.</summary>
public sealed record TrainingRunSettings(
    string Title, string Model, int Seed, int BatchSize, int TotalSteps, int DataCount, double LearningRate, int WarmupSteps, double WeightDecay,
    int RoiSamples)
{
    /// <summary>"name: expected X, checkpoint has Y" for every setting that differs from <paramref name="saved"/>.</summary>
    public List<string> DifferencesFrom(TrainingRunSettings saved)
    {
        var differences = new List<string>();
        void Compare<T>(string name, T mine, T theirs)
        {
            if (!EqualityComparer<T>.Default.Equals(mine, theirs))
            {
                differences.Add(string.Create(CultureInfo.InvariantCulture, $"{name}: this run {mine}, checkpoint {theirs}"));
            }
        }

        Compare("run", Title, saved.Title);
        Compare("model", Model, saved.Model);
        Compare("seed", Seed, saved.Seed);
        Compare("batch size", BatchSize, saved.BatchSize);
        Compare("total steps", TotalSteps, saved.TotalSteps);
        Compare("training images", DataCount, saved.DataCount);
        Compare("learning rate", LearningRate, saved.LearningRate);
        Compare("warm-up steps", WarmupSteps, saved.WarmupSteps);
        Compare("weight decay", WeightDecay, saved.WeightDecay);
        Compare("RoI samples per image (0 = not recorded, i.e. 512)", RoiSamples, saved.RoiSamples);
        return differences;
    }
}

/// <summary>
/// Where a run stands: the next step to run, the run's settings, the per-step loss history so far and the
/// validation points (step, mAP, mAP@.5) measured so far.
/// </summary>
public sealed record TrainingProgress(
    int NextStep, TrainingRunSettings Settings, List<Dictionary<string, double>> History, List<ValidationPoint> Validation);

/// <summary>A validation measurement during training: after <paramref name="Step"/> steps, COCO-style mAP and mAP@.5 in [0, 1].</summary>
public sealed record ValidationPoint(int Step, double Map, double Map50);
