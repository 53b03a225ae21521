namespace DeFeat.Hooks.Interception;

/// <summary>
/// The interceptors attached to one substituted module, run in attachment order: each sees the arguments as the
/// previous one left them (and may replace them), then each sees the result.
/// </summary>
internal sealed class InterceptorChain : IModuleInterceptor
{
    private IModuleInterceptor[] members = [];

    /// <summary>How many interceptors are attached.</summary>
    public int Count => members.Length;

    /// <summary>Appends <paramref name="interceptor"/>.</summary>
    public void Add(IModuleInterceptor interceptor) => members = [.. members, interceptor];

    /// <summary>Removes <paramref name="interceptor"/> (by reference); returns whether it was attached.</summary>
    public bool Remove(IModuleInterceptor interceptor)
    {
        var remaining = members.Where(member => !ReferenceEquals(member, interceptor)).ToArray();
        var removed = remaining.Length != members.Length;
        members = remaining;
        return removed;
    }

    /// <inheritdoc />
    public object?[]? OnInput(object?[] arguments)
    {
        object?[]? replaced = null;
        foreach (var member in members)
        {
            replaced = member.OnInput(replaced ?? arguments) ?? replaced;
        }

        return replaced;
    }

    /// <inheritdoc />
    public void OnOutput(object? result)
    {
        foreach (var member in members)
        {
            member.OnOutput(result);
        }
    }
}
