// Compiled twice: by MSBuild's RoslynCodeTaskFactory (build/PackageReadme.targets), where it provides the
// ComposePackageReadme task, and by the unit tests (with DEFEAT_ELF_TESTS defined), which test the composition
// without MSBuild. MSBuild compiles inline tasks against netstandard2.0: keep to that API.
#nullable enable
using System;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;

#if !DEFEAT_ELF_TESTS
/// <summary>
/// MSBuild task: writes a package's README from its PACKAGE.md, replacing each include line by the named section of
/// another Markdown file, so that the usage text exists once (in the repository README).
/// </summary>
public sealed class ComposePackageReadme : Microsoft.Build.Utilities.Task
{
    /// <summary>The package's PACKAGE.md.</summary>
    [Microsoft.Build.Framework.Required]
    public string Source { get; set; } = "";

    /// <summary>Where the composed README goes.</summary>
    [Microsoft.Build.Framework.Required]
    public string Destination { get; set; } = "";

    /// <inheritdoc />
    public override bool Execute()
    {
        try
        {
            var composed = PackageReadme.Compose(File.ReadAllText(Source), Path.GetDirectoryName(Path.GetFullPath(Source))!);
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(Destination))!);
            File.WriteAllText(Destination, composed);
            return true;
        }
        catch (InvalidDataException e)
        {
            Log.LogError($"DeFeat: cannot compose the package README from {Source}: {e.Message}");
            return false;
        }
    }
}
#endif

/// <summary>
/// Markdown composition: a line <c>&lt;!-- include: ../../README.md#Heading text --&gt;</c> is replaced by that file's
/// section with that heading (the heading line and everything up to the next heading of the same or a higher level,
/// outside code fences).
/// </summary>
public static class PackageReadme
{
    private static readonly Regex Include = new Regex(@"^<!-- include: (?<file>[^#]+)#(?<heading>.+?) -->\s*$", RegexOptions.Multiline);

    /// <summary>Returns <paramref name="text"/> with every include line replaced; paths are relative to <paramref name="directory"/>.</summary>
    /// <exception cref="InvalidDataException">An included file or heading does not exist.</exception>
    public static string Compose(string text, string directory)
        => Include.Replace(text, match =>
        {
            var path = Path.Combine(directory, match.Groups["file"].Value.Trim());
            if (!File.Exists(path))
            {
                throw new InvalidDataException($"the included file {path} does not exist.");
            }

            return Section(File.ReadAllText(path), match.Groups["heading"].Value.Trim()) ?? throw new InvalidDataException(
                $"{path} has no heading '{match.Groups["heading"].Value.Trim()}'.");
        });

    /// <summary>The section of <paramref name="markdown"/> under the heading <paramref name="heading"/> (heading line included, trailing blank lines dropped), or null.</summary>
    public static string? Section(string markdown, string heading)
    {
        var lines = markdown.Replace("\r\n", "\n").Split('\n');
        var inFence = false;
        int? start = null;
        var level = 0;
        var section = new StringBuilder();
        foreach (var line in lines)
        {
            var headingLevel = !inFence && line.StartsWith("#", StringComparison.Ordinal) ? line.TakeWhile(c => c == '#').Count() : 0;
            if (line.TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                inFence = !inFence;
            }

            if (start is null)
            {
                if (headingLevel > 0 && line.Substring(headingLevel).Trim() == heading)
                {
                    (start, level) = (0, headingLevel);
                    section.Append(line).Append('\n');
                }

                continue;
            }

            if (headingLevel > 0 && headingLevel <= level)
            {
                break;
            }

            section.Append(line).Append('\n');
        }

        return start is null ? null : section.ToString().TrimEnd('\n') + "\n";
    }
}
