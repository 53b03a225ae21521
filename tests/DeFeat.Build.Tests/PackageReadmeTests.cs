using System.IO;

namespace DeFeat.Build.Tests;

public class PackageReadmeTests
{
    private const string Markdown = """
        # Title

        ## Use

        Text with a fence:

        ```bash
        # not a heading
        dotnet test
        ```

        ### Detail

        More.

        ## Next

        Other.
        """;

    [Fact]
    public void A_section_runs_to_the_next_heading_of_its_level_and_ignores_hashes_in_code_fences()
    {
        var section = PackageReadme.Section(Markdown, "Use");

        section.Should().Be("## Use\n\nText with a fence:\n\n```bash\n# not a heading\ndotnet test\n```\n\n### Detail\n\nMore.\n");
        PackageReadme.Section(Markdown, "Detail").Should().Be("### Detail\n\nMore.\n");
        PackageReadme.Section(Markdown, "Missing").Should().BeNull();
    }

    [Fact]
    public void Include_lines_are_replaced_by_the_named_section_and_a_missing_heading_is_an_error()
    {
        var directory = Directory.CreateTempSubdirectory().FullName;
        try
        {
            File.WriteAllText(Path.Combine(directory, "README.md"), Markdown);

            var composed = PackageReadme.Compose("# Package\n\n<!-- include: README.md#Next -->\n\nEnd.\n", directory);
            var missing = () => PackageReadme.Compose("<!-- include: README.md#Nope -->\n", directory);

            composed.Should().Be("# Package\n\n## Next\n\nOther.\n\nEnd.\n");
            missing.Should().Throw<InvalidDataException>().WithMessage("*no heading 'Nope'*");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void The_hooks_package_readme_carries_the_repository_readmes_usage_verbatim()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root.FullName, "DeFeat.sln")))
        {
            root = root.Parent!;
        }

        var packageDirectory = Path.Combine(root.FullName, "src", "DeFeat.Hooks");
        var composed = PackageReadme.Compose(File.ReadAllText(Path.Combine(packageDirectory, "PACKAGE.md")), packageDirectory);
        var readme = File.ReadAllText(Path.Combine(root.FullName, "README.md"));

        composed.Should().NotContain("<!-- include:");
        foreach (var heading in new[] { "Add it to your project", "What your detector must allow", "Use it in your training loop" })
        {
            composed.Should().Contain(PackageReadme.Section(readme, heading)!);
        }
    }
}
