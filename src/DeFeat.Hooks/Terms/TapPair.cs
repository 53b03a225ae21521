using DeFeat.Hooks.Diagnostics;
using DeFeat.Hooks.Interception;
using DeFeat.Hooks.Recording;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Terms;

/// <summary>
/// The two taps of a term, one on the teacher and one on the student, with one lifecycle: the distiller attaches them
/// with the term, clears what they recorded after each step, suspends them with <c>Suspend()</c>, and detaches them
/// when the term is disposed. A term reads <see cref="Teacher"/> and <see cref="Student"/> in its <c>Compute</c>.
/// </summary>
public sealed class TapPair : IDisposable
{
    private TapPair(FeatureTap teacher, FeatureTap student)
    {
        Teacher = teacher;
        Student = student;
    }

    /// <summary>The tap on the teacher's submodule: <see cref="FeatureTap.Features"/> are its outputs of this step.</summary>
    public FeatureTap Teacher { get; }

    /// <summary>The tap on the student's submodule: <see cref="FeatureTap.Features"/> are its outputs of this step.</summary>
    public FeatureTap Student { get; }

    /// <summary>Sets both taps' suspension (while suspended they record nothing).</summary>
    internal bool Suspended
    {
        set => (Teacher.Suspended, Student.Suspended) = (value, value);
    }

    /// <summary>Forgets what both taps recorded.</summary>
    public void Clear()
    {
        Teacher.Clear();
        Student.Clear();
    }

    /// <summary>Detaches both taps, leaving the models as they were.</summary>
    public void Dispose()
    {
        Teacher.Dispose();
        Student.Dispose();
    }

    /// <summary>Attaches both taps; on failure neither stays attached.</summary>
    internal static TapPair Attach(TermModels models, TapTargets targets)
    {
        var teacher = new FeatureTap(
            models.Teacher, targets.TeacherPath, models.TeacherTapMode, targets.Selector, new TapSite(targets.TeacherOption, "teacher"), targets.RecordEveryCall);
        try
        {
            var student = new FeatureTap(
                models.Student, targets.StudentPath, models.StudentTapMode, targets.Selector, new TapSite(targets.StudentOption, "student"), targets.RecordEveryCall);
            return new TapPair(teacher, student);
        }
        catch
        {
            teacher.Dispose();
            throw;
        }
    }
}
