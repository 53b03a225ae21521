namespace DeFeat.Hooks.RoiHeads;

/// <summary>
/// Describes where the sampled RoIs and their labels live in an RoI head's forward arguments, so a
/// <see cref="ProposalRelay"/> can read them from one head and substitute them into another.
/// <see cref="RoiHeadArgumentPositions"/> covers heads that take both as forward arguments.
/// </summary>
public interface IRoiHeadArgumentMap
{
    /// <summary>Reads the proposals from the head's forward arguments.</summary>
    /// <param name="arguments">The forward arguments, in order (boxed).</param>
    /// <returns>The RoIs and their [R] int64 labels.</returns>
    SampledProposals Read(IReadOnlyList<object?> arguments);

    /// <summary>Returns the forward arguments with the RoIs and labels replaced by <paramref name="proposals"/>.</summary>
    /// <param name="arguments">The forward arguments, in order (boxed); not modified.</param>
    /// <param name="proposals">The proposals to put in.</param>
    /// <returns>A new argument array of the same length and types.</returns>
    object?[] Replace(IReadOnlyList<object?> arguments, SampledProposals proposals);
}
