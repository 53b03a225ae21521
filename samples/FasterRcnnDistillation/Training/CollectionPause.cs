using System.Runtime;

namespace FasterRcnnDistillation.Training;

/// <summary>
/// Keeps the .NET garbage collector from running while a training step (or an evaluation batch) issues its native
/// calls. TorchSharp turns every plain number in a tensor expression into a temporary native <c>Scalar</c> that nothing
/// keeps alive during the call — in this sample's code and in TorchSharp's own (<c>BatchNorm</c>'s
/// <c>num_batches_tracked.add_(1)</c>, the optimisers' <c>step()</c>) — so a collection triggered meanwhile by any
/// thread can free it mid-call (TorchSharp pull requests #1434, #1496). In a 9,000-step teacher run this happened at
/// step ≈ 850 ("For integral input tensors, argument alpha must not be a floating point number" from BatchNorm). A
/// no-GC region per step closes that window: garbage of a step is collected between steps, when no native call
/// runs. <see cref="EndedEarly"/> counts regions that ran out of their budget (the protection then lapsed for the
/// rest of that step).
/// </summary>
internal sealed class CollectionPause : IDisposable
{
    /// <summary>Managed bytes a step may allocate inside its region (a step allocates far less; measured in RESULTS.md).</summary>
    public const long Budget = 32L * 1024 * 1024;

    private readonly bool started;

    private CollectionPause(bool started) => this.started = started;

    /// <summary>Regions of this process that ended before their step did.</summary>
    public static int EndedEarly { get; private set; }

    /// <summary>Starts a no-GC region unless one is already active (then the caller is already protected).</summary>
    public static CollectionPause Start()
        => new(GCSettings.LatencyMode != GCLatencyMode.NoGCRegion && GC.TryStartNoGCRegion(Budget, disallowFullBlockingGC: false));

    public void Dispose()
    {
        if (!started)
        {
            return;
        }

        if (GCSettings.LatencyMode == GCLatencyMode.NoGCRegion)
        {
            GC.EndNoGCRegion();
        }
        else
        {
            EndedEarly++;
        }
    }
}
