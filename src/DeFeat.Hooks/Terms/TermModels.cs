using DeFeat.Hooks.Interception;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Terms;

/// <summary>The two detectors a distiller attaches its terms to, and how each is tapped.</summary>
/// <param name="teacher">The teacher detector.</param>
/// <param name="student">The student detector.</param>
/// <param name="teacherTapMode">How the teacher's submodules are tapped.</param>
/// <param name="studentTapMode">How the student's submodules are tapped.</param>
internal sealed class TermModels(nn.Module teacher, nn.Module student, TapMode teacherTapMode, TapMode studentTapMode)
{
    /// <summary>The teacher detector.</summary>
    public nn.Module Teacher { get; } = teacher;

    /// <summary>The student detector.</summary>
    public nn.Module Student { get; } = student;

    /// <summary>How the teacher's submodules are tapped.</summary>
    public TapMode TeacherTapMode { get; } = teacherTapMode;

    /// <summary>How the student's submodules are tapped.</summary>
    public TapMode StudentTapMode { get; } = studentTapMode;
}
