using System.Reflection;
using System.Runtime.CompilerServices;

namespace DeFeat.PublicApi.Tests;

/// <summary>
/// The public API of both packages must match the checked-in baseline, so that a breaking change is a deliberate,
/// reviewed edit of PublicApi.approved.txt. After an intended API change, regenerate the baseline with
/// <c>DEFEAT_UPDATE_PUBLIC_API=1 dotnet test tests/DeFeat.PublicApi.Tests</c> and review the diff.
/// </summary>
public class PublicApiTests
{
    private static readonly Assembly[] Packages = { Assembly.Load("DeFeat.Losses"), Assembly.Load("DeFeat.Hooks") };

    [Fact]
    public void Public_api_matches_the_approved_baseline()
    {
        var actual = Packages
            .SelectMany(a => new[] { $"# {a.GetName().Name}" }.Concat(PublicApiListing.Of(a)))
            .ToList();
        var approvedPath = Path.Combine(SourceDirectory(), "PublicApi.approved.txt");

        if (Environment.GetEnvironmentVariable("DEFEAT_UPDATE_PUBLIC_API") == "1")
        {
            File.WriteAllLines(approvedPath, actual);
        }

        var approved = File.Exists(approvedPath) ? File.ReadAllLines(approvedPath) : Array.Empty<string>();
        var added = actual.Except(approved).ToList();
        var removed = approved.Except(actual).ToList();
        (added.Count + removed.Count).Should().Be(0,
            "the public API changed; if intended, regenerate PublicApi.approved.txt (see this test's summary).\n" +
            "Added:\n  " + string.Join("\n  ", added) + "\nRemoved:\n  " + string.Join("\n  ", removed));
    }

    [Fact]
    public void Public_names_follow_the_naming_rule()
    {
        // Rule: PascalCase .NET names everywhere, except members that override or mirror TorchSharp's own
        // snake_case members (forward, train, ...), which keep TorchSharp's spelling.
        var offenders = Packages
            .SelectMany(a => a.GetExportedTypes())
            .SelectMany(t => t.GetMembers(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)
                .Where(m => m is not MethodBase { IsSpecialName: true } && m.Name.Contains('_', StringComparison.Ordinal))
                .Where(m => !MirrorsTorchSharp(m))
                .Select(m => $"{t.FullName}.{m.Name}"))
            .ToList();

        offenders.Should().BeEmpty("snake_case is reserved for members that mirror TorchSharp");
    }

    private static bool MirrorsTorchSharp(MemberInfo member)
        => member is MethodInfo method && method.GetBaseDefinition().DeclaringType?.Assembly == Assembly.Load("TorchSharp");

    private static string SourceDirectory([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;
}
