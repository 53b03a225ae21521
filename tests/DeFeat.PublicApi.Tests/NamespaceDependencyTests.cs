using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;

namespace DeFeat.PublicApi.Tests;

/// <summary>
/// Each namespace of a package depends one way: no namespace uses another that uses it back, directly or through
/// others. A namespace's dependencies are read from its source files: its <c>using</c> directives and the fully qualified
/// names in its code (comments aside), plus its parent namespaces, whose types it sees without a <c>using</c>.
/// </summary>
public partial class NamespaceDependencyTests
{
    [Theory]
    [InlineData("DeFeat.Losses")]
    [InlineData("DeFeat.Hooks")]
    public void No_namespace_depends_on_one_that_depends_back_on_it(string package)
    {
        var dependencies = Dependencies(package);
        var reach = dependencies.Keys.ToDictionary(name => name, name => Reachable(name, dependencies));

        var circles = reach
            .SelectMany(from => from.Value.Where(to => string.CompareOrdinal(from.Key, to) < 0 && reach.TryGetValue(to, out var back) && back.Contains(from.Key))
                .Select(to => $"{from.Key} <-> {to}"))
            .ToList();

        dependencies.Should().HaveCountGreaterThan(3, "the scan must find the package's namespaces");
        circles.Should().BeEmpty("each namespace must depend one way; found these pairs that reach each other:\n"
            + string.Join("\n", dependencies.Select(pair => $"{pair.Key} -> {string.Join(", ", pair.Value.Order())}")));
    }

    [Fact]
    public void The_scan_sees_using_directives_qualified_names_and_parents_but_not_comments()
    {
        var found = DependenciesOf(
            """
            using DeFeat.Hooks.Terms;
            using static DeFeat.Hooks.Recording.TapMode;

            namespace DeFeat.Hooks.Distillation;

            /// <see cref="DeFeat.Hooks.Balance.DistillationBalancer"/>
            internal sealed class Example(DeFeat.Hooks.Schedules.WeightSchedule schedule);
            """,
            ["DeFeat.Hooks", "DeFeat.Hooks.Terms", "DeFeat.Hooks.Recording", "DeFeat.Hooks.Distillation", "DeFeat.Hooks.Balance", "DeFeat.Hooks.Schedules"]);

        found.Namespace.Should().Be("DeFeat.Hooks.Distillation");
        found.Uses.Should().BeEquivalentTo(["DeFeat.Hooks", "DeFeat.Hooks.Terms", "DeFeat.Hooks.Recording", "DeFeat.Hooks.Schedules"]);
    }

    private static Dictionary<string, HashSet<string>> Dependencies(string package)
    {
        var files = Directory.EnumerateFiles(Path.Combine(RepositoryRoot(), "src", package), "*.cs", SearchOption.AllDirectories)
            .Where(file => !file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !file.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(File.ReadAllText)
            .ToList();
        var namespaces = files.Select(text => NamespaceLine().Match(text)).Where(match => match.Success).Select(match => match.Groups[1].Value).ToHashSet();
        var result = namespaces.ToDictionary(name => name, _ => new HashSet<string>());
        foreach (var text in files)
        {
            var (name, uses) = DependenciesOf(text, namespaces);
            result[name].UnionWith(uses);
        }

        return result;
    }

    private static (string Namespace, IReadOnlyCollection<string> Uses) DependenciesOf(string source, IReadOnlyCollection<string> namespaces)
    {
        var own = NamespaceLine().Match(source).Groups[1].Value;
        var uses = new HashSet<string>();
        foreach (var line in source.Split('\n').Select(line => line.Trim()).Where(line => !line.StartsWith("//", StringComparison.Ordinal)))
        {
            foreach (Match name in QualifiedName().Matches(line))
            {
                if (namespaces.Where(candidate => name.Value == candidate || name.Value.StartsWith(candidate + ".", StringComparison.Ordinal))
                    .MaxBy(candidate => candidate.Length) is { } target)
                {
                    uses.Add(target);
                }
            }
        }

        uses.UnionWith(namespaces.Where(parent => own.StartsWith(parent + ".", StringComparison.Ordinal)));
        uses.Remove(own);
        return (own, uses);
    }

    private static HashSet<string> Reachable(string start, Dictionary<string, HashSet<string>> dependencies)
    {
        var seen = new HashSet<string>();
        var pending = new Stack<string>(dependencies[start]);
        while (pending.TryPop(out var next))
        {
            if (seen.Add(next) && dependencies.TryGetValue(next, out var further))
            {
                foreach (var name in further)
                {
                    pending.Push(name);
                }
            }
        }

        return seen;
    }

    private static string RepositoryRoot([CallerFilePath] string path = "") => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, "..", ".."));

    [GeneratedRegex(@"^namespace\s+([\w.]+)\s*;", RegexOptions.Multiline)]
    private static partial Regex NamespaceLine();

    [GeneratedRegex(@"(?<![\w.])DeFeat(\.\w+)+")]
    private static partial Regex QualifiedName();
}
