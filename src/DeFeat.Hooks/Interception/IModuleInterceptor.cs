namespace DeFeat.Hooks.Interception;

/// <summary>
/// What an attached hook or capturing wrapper does around one module call: it sees (and may replace) the forward
/// arguments, then sees the result.
/// </summary>
internal interface IModuleInterceptor
{
    /// <summary>Called before the module's forward with its arguments in order.</summary>
    /// <returns>Replacement arguments (same count and types), or null to keep them.</returns>
    object?[]? OnInput(object?[] arguments);

    /// <summary>Called after the module's forward with its result (boxed).</summary>
    void OnOutput(object? result);
}
