using System.Diagnostics;
using System.Runtime.CompilerServices;
using Xunit.Abstractions;

namespace DeFeat.Testing;

/// <summary>
/// Forces garbage collections from a second thread while the test thread runs library code: a thread in a loop of
/// <c>GC.Collect(); GC.WaitForPendingFinalizers();</c>. A TorchSharp <c>Scalar</c> that a native call still reads
/// but that no managed code keeps alive is then finalised (and its native memory freed) during that call
/// (TorchSharp #1434, #1496), which shows up as an <c>ExternalException</c> (e.g. "toDouble at c10/core/Scalar.h")
/// or as a wrong value. A single-threaded program rarely hits it: a collection only happens during a native call
/// when another thread triggers one.
/// </summary>
/// <remarks>
/// Linked into both test projects (tests/Shared). <see cref="Paused"/> stops the collections around code that is
/// not the library's (test models, TorchSharp's optimisers), which has the same race and is not under test.
/// </remarks>
internal sealed class GcStress : IDisposable
{
    private readonly Thread thread;
    private readonly object collecting = new();
    private readonly ManualResetEventSlim active = new(initialState: true);
    private volatile bool paused;
    private volatile bool stopped;
    private long collections;

    public GcStress()
    {
        thread = new Thread(Collect) { IsBackground = true, Name = "GC stress" };
        thread.Start();
    }

    /// <summary>Calls per stress test: before the fix, 2,000 calls of each entry point failed 1–10 times.</summary>
    public const int Iterations = 2_000;

    /// <summary>A stress test stops early on a loaded machine (2,000 calls take 2–30 s on 2 idle cores).</summary>
    public static readonly TimeSpan Budget = TimeSpan.FromSeconds(40);

    /// <summary>Collections forced so far.</summary>
    public long Collections => Interlocked.Read(ref collections);

    /// <summary>
    /// Runs <paramref name="step"/> <see cref="Iterations"/> times under the collections, or fewer when
    /// <see cref="Budget"/> runs out first, and counts the iterations that threw.
    /// </summary>
    public StressResult Run(Action<int> step)
    {
        var failures = 0;
        var messages = new List<string>();
        var clock = Stopwatch.StartNew();
        var collectionsBefore = Collections;
        var iteration = 0;
        for (; iteration < Iterations && clock.Elapsed < Budget; iteration++)
        {
            try
            {
                step(iteration);
            }
            catch (Exception exception)
            {
                failures++;
                if (messages.Count < 3)
                {
                    messages.Add($"iteration {iteration}: {exception.GetType().Name}: {exception.Message.Split('\n')[0]}");
                }
            }
        }

        return new StressResult(iteration, failures, Collections - collectionsBefore, clock.Elapsed, messages);
    }

    /// <summary>Stops the collections until the result is disposed; returns once no collection is in progress.</summary>
    public IDisposable Paused()
    {
        paused = true;
        active.Reset();
        lock (collecting)
        {
            // Waits for a collection (and its finalisers) in progress.
        }

        return new Resume(this);
    }

    public void Dispose()
    {
        stopped = true;
        active.Set();
        thread.Join();
        active.Dispose();
    }

    private void Collect()
    {
        while (!stopped)
        {
            active.Wait();
            lock (collecting)
            {
                if (!paused && !stopped)
                {
                    GC.Collect();
                    GC.WaitForPendingFinalizers();
                    Interlocked.Increment(ref collections);
                }
            }
        }
    }

    private sealed class Resume(GcStress stress) : IDisposable
    {
        public void Dispose()
        {
            stress.paused = false;
            stress.active.Set();
        }
    }
}

/// <summary>Runs the GC stress tests alone, after the others: the forced collections would slow everything else.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GcStressCollection
{
    public const string Name = "GC stress";
}

/// <summary>The outcome of <see cref="GcStress.Run"/>.</summary>
internal sealed record StressResult(int Iterations, int Failures, long Collections, TimeSpan Elapsed, IReadOnlyList<string> FirstFailures)
{
    public override string ToString()
        => $"{Failures} of {Iterations} iterations failed under {Collections} forced collections in {Elapsed.TotalSeconds:F1} s"
           + (FirstFailures.Count == 0 ? string.Empty : "; " + string.Join("; ", FirstFailures));

    /// <summary>Writes the counts to the test output, then asserts that collections were forced and nothing failed.</summary>
    public void ShouldHaveNoFailures(ITestOutputHelper output, [CallerMemberName] string test = "")
    {
        output.WriteLine($"{test}: {this}");
        Collections.Should().BeGreaterThan(10, "the second thread must really force collections (how many depends on the machine's load)");
        Failures.Should().Be(0, ToString());
    }
}
