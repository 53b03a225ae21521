using System.Collections;
using System.Reflection;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Support;

/// <summary>Counts the hooks TorchSharp holds on a module (its internal hook dictionaries), for "hook-free" checks.</summary>
public static class HookInspection
{
    public static int HookCount(nn.Module module)
    {
        var count = 0;
        for (var type = module.GetType(); type is not null; type = type.BaseType)
        {
            foreach (var name in new[] { "pre_hooks", "post_hooks", "module_pre_hooks", "module_post_hooks" })
            {
                if (type.GetField(name, BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.DeclaredOnly)?.GetValue(module) is ICollection hooks)
                {
                    count += hooks.Count;
                }
            }
        }

        return count;
    }
}
