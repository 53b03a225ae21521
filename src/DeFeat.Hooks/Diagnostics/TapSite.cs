namespace DeFeat.Hooks.Diagnostics;

/// <summary>
/// Who asked for an attachment, for error messages: the argument or option that holds the path (e.g.
/// <c>options.TeacherNeckPath</c>) and which model it belongs to (<c>teacher</c> / <c>student</c>), when known.
/// </summary>
/// <param name="Option">The argument or option name; also the <c>ParamName</c> of the exceptions.</param>
/// <param name="Model">"teacher", "student", or null when the caller did not say.</param>
internal readonly record struct TapSite(string Option, string? Model)
{
    /// <summary>E.g. <c>options.TeacherNeckPath 'neck' (teacher)</c>.</summary>
    public string Describe(string path) => Model is null ? $"{Option} '{path}'" : $"{Option} '{path}' ({Model})";
}
