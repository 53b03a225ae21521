using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.Support;

/// <summary>Shape of one feature level for generated test inputs.</summary>
internal readonly record struct LevelShape(long StudentChannels, long TeacherChannels, long Height, long Width);

/// <summary>Random inputs for the feature-loss tests (owned by the caller's dispose scope).</summary>
internal static class FeatureLossInputs
{
    public static (Tensor[] Students, Tensor[] Teachers, Tensor[] Masks) Random(
        long batch, ScalarType dtype, bool softMasks, params LevelShape[] levels)
    {
        var students = levels.Select(l => torch.randn(batch, l.StudentChannels, l.Height, l.Width, dtype: dtype)).ToArray();
        var teachers = levels.Select(l => torch.randn(batch, l.TeacherChannels, l.Height, l.Width, dtype: dtype)).ToArray();
        var masks = levels
            .Select(l => softMasks
                ? torch.rand(batch, l.Height, l.Width, dtype: dtype)
                : (torch.rand(batch, l.Height, l.Width) < 0.3).to_type(dtype))
            .ToArray();
        return (students, teachers, masks);
    }
}
