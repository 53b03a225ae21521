using System.Reflection;
using System.Runtime.Loader;

namespace DeFeat.Benchmarks.GpuCheck;

/// <summary>
/// Runs the <c>[CudaFact]</c> tests of a built test assembly on a machine without the .NET SDK
/// (<c>DeFeat.Benchmarks cuda-facts path/to/DeFeat.Losses.Tests.dll</c>): the published benchmarks carry the runtime,
/// TorchSharp and DeFeat.Losses; the test assembly's own dependencies (FluentAssertions, xunit) are loaded from its
/// folder. Each test class is created with its parameterless constructor, each test method called, and disposed.
/// </summary>
/// <remarks>Prints one PASS / FAIL line per test; the exit code is the number of failures (1 if none was found).</remarks>
internal static class CudaFactRunner
{
    private const string AttributeName = "CudaFactAttribute";

    public static int Run(string testAssemblyPath)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(testAssemblyPath))!;
        AssemblyLoadContext.Default.Resolving += (context, name) =>
        {
            var candidate = Path.Combine(folder, name.Name + ".dll");
            return File.Exists(candidate) ? context.LoadFromAssemblyPath(candidate) : null;
        };

        var assembly = AssemblyLoadContext.Default.LoadFromAssemblyPath(Path.GetFullPath(testAssemblyPath));
        var tests = assembly.GetTypes()
            .SelectMany(type => type.GetMethods(BindingFlags.Public | BindingFlags.Instance)
                .Where(method => method.GetCustomAttributes().Any(attribute => attribute.GetType().Name == AttributeName))
                .Select(method => (Type: type, Method: method)))
            .OrderBy(test => test.Type.FullName).ThenBy(test => test.Method.Name)
            .ToArray();
        var failed = 0;
        foreach (var (type, method) in tests)
        {
            var name = $"{type.Name}.{method.Name}";
            try
            {
                var instance = Activator.CreateInstance(type);
                try
                {
                    var result = method.Invoke(instance, null);
                    if (result is Task task)
                    {
                        task.GetAwaiter().GetResult();
                    }
                }
                finally
                {
                    (instance as IDisposable)?.Dispose();
                }

                Console.WriteLine($"PASS {name}");
            }
            catch (Exception error)
            {
                var cause = error is TargetInvocationException { InnerException: { } inner } ? inner : error;
                failed++;
                Console.WriteLine($"FAIL {name}: {cause.GetType().Name}: {cause.Message}");
            }
        }

        Console.WriteLine($"cuda-facts: {tests.Length - failed} passed, {failed} failed");
        return tests.Length == 0 ? 1 : failed;
    }
}
