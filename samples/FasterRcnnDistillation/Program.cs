using FasterRcnnDistillation.Cli;
using FasterRcnnDistillation.Experiments;
using static TorchSharp.torch;

if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine(SampleOptions.Usage);
    return 0;
}

SampleOptions options;
try
{
    options = SampleOptions.Parse(args);
}
catch (ArgumentException error)
{
    Console.Error.WriteLine(error.Message);
    Console.Error.WriteLine("Run with --help for the commands and options.");
    return 2;
}

try
{
    options.Validate(cuda.is_available);
}
catch (ArgumentException error)
{
    Console.Error.WriteLine(error.Message);
    return 2;
}

ExperimentRunner runner;
try
{
    runner = new ExperimentRunner(options);
}
catch (ArgumentException error)
{
    Console.Error.WriteLine(error.Message);
    return 2;
}

runner.Run();
return 0;
