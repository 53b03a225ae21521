namespace FasterRcnnDistillation.Tests;

/// <summary>
/// Tests that compare two seeded training runs number for number. libtorch's default random generator is one per
/// process, so a test of another class drawing from it at the same time would change the runs' sampling: these tests
/// run alone.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SeededRunsCollection
{
    public const string Name = "Seeded training runs (torch's global generator)";
}
