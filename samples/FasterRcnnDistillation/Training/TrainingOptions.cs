using FasterRcnnDistillation.Data;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Training;

/// <summary>
/// Schedule of one training run: AdamW (or SGD), linear warm-up then cosine decay to 5 % of the peak rate; optional periodic
/// checkpoints to resume from and periodic validation.
/// </summary>
public sealed record TrainingOptions
{
    public int Epochs { get; init; } = 12;

    public int BatchSize { get; init; } = 8;

    public double LearningRate { get; init; } = 1e-3;

    /// <summary>The optimiser's name in <c>--optimizer</c> for SGD with momentum 0.9 (the official DeFeat recipe's).</summary>
    public const string Sgd = "sgd";

    /// <summary>The optimiser's name in <c>--optimizer</c> for AdamW (the sample's default).</summary>
    public const string AdamW = "adamw";

    /// <summary><see cref="AdamW"/> (default) or <see cref="Sgd"/>; both use <see cref="WeightDecay"/>.</summary>
    public string Optimizer { get; init; } = AdamW;

    /// <summary>Largest L2 norm of all gradients together (clipped to it before each step): 10 for AdamW, 35 in the official SGD recipe.</summary>
    public double ClipNorm { get; init; } = 10.0;

    public double WeightDecay { get; init; } = 1e-4;

    public int WarmupSteps { get; init; } = 20;

    public int Seed { get; init; } = 1;

    public Device Device { get; init; } = CPU;

    /// <summary>Folder of this run's checkpoint (<see cref="TrainingCheckpoint"/>); null = no checkpoints.</summary>
    public string? CheckpointFolder { get; init; }

    /// <summary>Steps between checkpoints (one is also written after the last step).</summary>
    public int CheckpointEvery { get; init; } = 500;

    /// <summary>Continue from the checkpoint in <see cref="CheckpointFolder"/> when there is one (else start afresh).</summary>
    public bool Resume { get; init; }

    /// <summary>Data evaluated every <see cref="ValidateEvery"/> steps and after the last (the learning curve); null = none.</summary>
    public DetectionDataset? Validation { get; init; }

    /// <summary>Steps between validation points (0 = only after the last step, when <see cref="Validation"/> is set).</summary>
    public int ValidateEvery { get; init; }
}
