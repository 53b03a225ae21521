using DeFeat.Hooks.Diagnostics;
using DeFeat.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Interception;

/// <summary>
/// A submodule found by its dotted path (as <c>named_modules()</c> names it), with its parent and, when the parent is
/// not the root, the parent's own parent (whose code reads the items of a ModuleList / ModuleDict parent).
/// </summary>
internal sealed record ModulePath(string Path, nn.Module Module, nn.Module Parent, string ChildName, nn.Module? GrandParent)
{
    private const int SuggestionCount = 5;

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
