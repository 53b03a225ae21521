using DeFeat.Hooks.Interception;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Terms;

/// <summary>The two detectors a distiller attaches its terms to, and how each is tapped.</summary>
/// <param name="Teacher">The teacher detector.</param>
/// <param name="Student">The student detector.</param>
/// <param name="TeacherTapMode">How the teacher's submodules are tapped.</param>
/// <param name="StudentTapMode">How the student's submodules are tapped.</param>
internal sealed record TermModels(nn.Module Teacher, nn.Module Student, TapMode TeacherTapMode, TapMode StudentTapMode);
