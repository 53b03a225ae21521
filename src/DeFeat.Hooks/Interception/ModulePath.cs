using DeFeat.Hooks.Diagnostics;
using DeFeat.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Interception;

/// <summary>
/// A submodule found by its dotted path (as <c>named_modules()</c> names it), with its parent and, when the parent is
/// not the root, the parent's own parent (whose code reads the items of a ModuleList / ModuleDict parent). A class,
/// not a record: it holds modules, which have identity, not value.
/// </summary>
internal sealed class ModulePath(string path, nn.Module module, nn.Module parent, string childName, nn.Module? grandParent)
{
    private const int SuggestionCount = 5;

    /// <summary>The dotted path, as given.</summary>
    public string Path { get; } = path;

    /// <summary>The submodule at <see cref="Path"/>.</summary>
    public nn.Module Module { get; } = module;

    /// <summary>The module that holds <see cref="Module"/> as its child <see cref="ChildName"/>.</summary>
    public nn.Module Parent { get; } = parent;

    /// <summary>The last segment of <see cref="Path"/>: the child's name in <see cref="Parent"/>.</summary>
    public string ChildName { get; } = childName;

    /// <summary>The parent's own parent, or null when the parent is the root.</summary>
    public nn.Module? GrandParent { get; } = grandParent;

    /// <summary>Finds the submodule at <paramref name="path"/> under <paramref name="root"/>.</summary>
    /// <exception cref="ArgumentException">
    /// The path is empty or names no submodule; the message lists the (up to five) nearest valid paths.
    /// </exception>
    public static ModulePath Resolve(nn.Module root, string path, TapSite site)
    {
        Guard.NotNull(root, nameof(root));
        Guard.NotNull(path, site.Option);
        nn.Module? grandParent = null;
        var parent = root;
        nn.Module? current = root;
        var segments = path.Split('.');
        foreach (var segment in segments)
        {
            (grandParent, parent) = (ReferenceEquals(parent, current) ? null : parent, current!);
            current = segment.Length == 0
                ? null
                : parent.named_children().Where(child => child.name == segment).Select(child => child.module).FirstOrDefault();
            if (current is null)
            {
                throw new ArgumentException(NotFoundMessage(root, path, site), site.Option);
            }
        }

        return new ModulePath(path, current!, parent, segments[^1], grandParent);
    }

    private static string NotFoundMessage(nn.Module root, string path, TapSite site)
    {
        var valid = root.named_modules().Select(entry => entry.name).Where(name => name.Length > 0);
        var nearest = NearestNames.To(path, valid, SuggestionCount);
        var listing = nearest.Length == 0 ? "the module has no submodules" : "nearest valid paths: " + string.Join(", ", nearest.Select(name => $"'{name}'"));
        return $"{site.Describe(path)} names no submodule of {TypeNames.Of(root.GetType())} (paths are dotted named_modules() names, "
            + $"e.g. 'neck' or 'backbone.layer3'); {listing}.";
    }
}
