using static TorchSharp.torch;

namespace DeFeat.Hooks.RoiHeads;

/// <summary>
/// The <see cref="IRoiHeadArgumentMap"/> for an RoI head whose forward takes the RoIs and the labels as two of its
/// arguments (e.g. <c>forward(Tensor[] features, Tensor rois, Tensor labels)</c>: RoIs at 1, labels at 2).
/// </summary>
public sealed class RoiHeadArgumentPositions : IRoiHeadArgumentMap
{
    /// <summary>Creates the map.</summary>
    /// <param name="roisArgument">0-based position of the RoIs tensor among the forward arguments.</param>
    /// <param name="labelsArgument">0-based position of the [R] int64 labels tensor among the forward arguments.</param>
    /// <exception cref="ArgumentOutOfRangeException">A position is negative.</exception>
    /// <exception cref="ArgumentException">Both positions are the same.</exception>
    public RoiHeadArgumentPositions(int roisArgument, int labelsArgument)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(roisArgument);
        ArgumentOutOfRangeException.ThrowIfNegative(labelsArgument);
        if (roisArgument == labelsArgument)
        {
            throw new ArgumentException($"{nameof(labelsArgument)} must differ from {nameof(roisArgument)}; both are {roisArgument}.", nameof(labelsArgument));
        }

        RoisArgument = roisArgument;
        LabelsArgument = labelsArgument;
    }

    /// <summary>0-based position of the RoIs among the forward arguments.</summary>
    public int RoisArgument { get; }

    /// <summary>0-based position of the labels among the forward arguments.</summary>
    public int LabelsArgument { get; }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">An argument at the configured positions is missing or not a tensor.</exception>
    public SampledProposals Read(IReadOnlyList<object?> arguments)
        => new(TensorAt(arguments, RoisArgument, "RoIs"), TensorAt(arguments, LabelsArgument, "labels"));

    /// <inheritdoc />
    public object?[] Replace(IReadOnlyList<object?> arguments, SampledProposals proposals)
    {
        var replaced = arguments.ToArray();
        replaced[RoisArgument] = proposals.Rois;
        replaced[LabelsArgument] = proposals.Labels;
        return replaced;
    }

    private static Tensor TensorAt(IReadOnlyList<object?> arguments, int position, string what)
        => position < arguments.Count && arguments[position] is Tensor tensor
            ? tensor
            : throw new ArgumentException(
                $"The RoI head's forward argument {position} must be the {what} tensor; the head got {arguments.Count} "
                + $"argument(s) and argument {position} is {(position < arguments.Count ? arguments[position]?.GetType().Name ?? "null" : "missing")}.",
                nameof(arguments));
}
