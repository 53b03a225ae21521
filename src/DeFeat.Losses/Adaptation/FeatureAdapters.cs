using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DeFeat.Losses.Adaptation;

/// <summary>
/// DeFeat's per-level adaptation layers: one <see cref="AdaptationConv"/> (3×3 conv, padding 1, no activation) per
/// feature level l, mapping the student's C_s,l channels to the teacher's C_t,l channels. The counts may differ per
/// level and between student and teacher.
/// </summary>
/// <remarks>
/// The layers are registered as submodules (a <see cref="ModuleList{T}"/>), so <c>parameters()</c> of this module —
/// and of a <see cref="Features.DecoupledFeatureLoss"/> built with it — includes them. They are trained with the
/// student: give the student's optimiser <c>adapters.parameters()</c> (or <c>loss.parameters()</c>) as well, and create
/// them on the student's device and in its dtype (the <c>device</c> / <c>dtype</c> constructor parameters) or move them
/// there with <c>to(...)</c>. They are dropped at inference. Inputs in another
/// floating dtype than the layers (float16 / bfloat16 student features) are cast to the layers' dtype.
/// </remarks>
public sealed class FeatureAdapters : nn.Module<IReadOnlyList<Tensor>, Tensor[]>
{
    private readonly ModuleList<AdaptationConv> levels;

    /// <summary>Creates one adapter per level: <paramref name="studentChannels"/>[l] → <paramref name="teacherChannels"/>[l].</summary>
    /// <param name="studentChannels">C_s,l for each level; at least one level, each &gt; 0.</param>
    /// <param name="teacherChannels">C_t,l for each level; as many levels as <paramref name="studentChannels"/>, each &gt; 0.</param>
    /// <param name="device">The layers' device (see <see cref="AdaptationConv"/>); null = the CPU (or TorchSharp's default device).</param>
    /// <param name="dtype">The layers' floating dtype; null = float32 (or TorchSharp's default dtype).</param>
    /// <exception cref="ArgumentNullException">A list is null.</exception>
    /// <exception cref="ArgumentException">No level, the two lists differ in length, or <paramref name="dtype"/> is not floating point.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A channel count is ≤ 0.</exception>
    public FeatureAdapters(IReadOnlyList<long> studentChannels, IReadOnlyList<long> teacherChannels, Device? device = null, ScalarType? dtype = null)
        : base(nameof(FeatureAdapters))
    {
        Guard.NotNull(studentChannels, nameof(studentChannels));
        Guard.NotNull(teacherChannels, nameof(teacherChannels));
        Guard.NotEmpty(studentChannels, nameof(studentChannels));
        Guard.Count(teacherChannels.Count, studentChannels.Count, nameof(teacherChannels), "channel counts");
        for (var level = 0; level < studentChannels.Count; level++)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(studentChannels[level], $"{nameof(studentChannels)}[{level}]");
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(teacherChannels[level], $"{nameof(teacherChannels)}[{level}]");
        }

        StudentChannels = studentChannels.ToArray();
        TeacherChannels = teacherChannels.ToArray();
        levels = new ModuleList<AdaptationConv>(
            studentChannels.Zip(teacherChannels, (input, output) => new AdaptationConv(input, output, device, dtype)).ToArray());
        RegisterComponents();
    }

    /// <summary>Number of feature levels L.</summary>
    public int LevelCount => levels.Count;

    /// <summary>Student channels C_s,l per level (the adapters' input channels).</summary>
    public IReadOnlyList<long> StudentChannels { get; }

    /// <summary>Teacher channels C_t,l per level (the adapters' output channels).</summary>
    public IReadOnlyList<long> TeacherChannels { get; }

    /// <summary>The adapter of level <paramref name="level"/> (0-based).</summary>
    /// <param name="level">Level index in [0, <see cref="LevelCount"/>).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="level"/> is outside [0, <see cref="LevelCount"/>).</exception>
    public AdaptationConv this[int level]
        => level >= 0 && level < levels.Count
            ? levels[level]
            : throw new ArgumentOutOfRangeException(
                nameof(level), level, $"{nameof(level)} must lie in [0, {levels.Count}) (these adapters have {levels.Count} levels); got {level}.");

    /// <summary>Adapts every level: S'_l = A_l(S_l).</summary>
    /// <param name="studentFeatures">
    /// S_l [B, C_s,l, H_l, W_l] for l = 1..L, floating point, on the adapters' device.
    /// </param>
    /// <returns>S'_l [B, C_t,l, H_l, W_l] in the adapters' parameter dtype, one per level.</returns>
    /// <exception cref="ArgumentException">
    /// The list is null, has another level count, or a level does not fit its adapter (rank, channels, dtype kind,
    /// device).
    /// </exception>
    public override Tensor[] forward(IReadOnlyList<Tensor> studentFeatures)
    {
        Validate(studentFeatures, nameof(studentFeatures));
        var adapted = new Tensor[levels.Count];
        for (var level = 0; level < levels.Count; level++)
        {
            adapted[level] = levels[level].call(studentFeatures[level]);
        }

        return adapted;
    }

    /// <summary>Checks that <paramref name="studentFeatures"/> fit the adapters (metadata only).</summary>
    internal void Validate(IReadOnlyList<Tensor> studentFeatures, string name)
    {
        Guard.NotNull(studentFeatures, name);
        Guard.Count(studentFeatures.Count, levels.Count, name, "feature maps (the adapters' level count)");
        for (var level = 0; level < levels.Count; level++)
        {
            levels[level].Validate(studentFeatures[level], $"{name}[{level}]");
        }
    }
}
