using static TorchSharp.torch;

namespace DeFeat.Hooks.Terms;

/// <summary>What a term's <see cref="TapPair"/> taps, and the option names its errors give.</summary>
/// <param name="TeacherPath">Dotted path of the teacher's submodule.</param>
/// <param name="StudentPath">Dotted path of the student's submodule.</param>
/// <param name="TeacherOption">The option that holds <paramref name="TeacherPath"/>, for messages (e.g. <c>options.TeacherPath</c>).</param>
/// <param name="StudentOption">The option that holds <paramref name="StudentPath"/>, for messages.</param>
/// <param name="Selector">Turns an output that is not a tensor, list or tuple of tensors into its tensors; null = built in.</param>
/// <param name="RecordEveryCall">Whether the taps record every call of a step (one level per call) instead of the last.</param>
internal sealed record TapTargets(
    string TeacherPath,
    string StudentPath,
    string TeacherOption,
    string StudentOption,
    Func<object, IReadOnlyList<Tensor>>? Selector = null,
    bool RecordEveryCall = false);
