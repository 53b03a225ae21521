using DeFeat.Hooks.Interception;

namespace DeFeat.Hooks.Distillation;

/// <summary>How a <see cref="Distiller"/> taps the two models and checks its losses.</summary>
public sealed record DistillerOptions
{
    /// <summary>How the teacher's submodules are tapped; <see cref="TapMode.Auto"/> (default) picks what the model allows.</summary>
    public TapMode TeacherTapMode { get; init; } = TapMode.Auto;

    /// <summary>How the student's submodules are tapped; <see cref="TapMode.Auto"/> (default) picks what the model allows.</summary>
    public TapMode StudentTapMode { get; init; } = TapMode.Auto;

    /// <summary>
    /// Whether each call checks that the losses are finite (one host read of the total per step) and, when they are
    /// not, throws an <see cref="InvalidOperationException"/> naming the non-finite losses and the first recorded tensor
    /// (term, level, whose: student or teacher, mask, adaptation layer, logits) that makes them so. For chasing a NaN;
    /// default false (no host read).
    /// </summary>
    public bool CheckFinite { get; init; }
}
