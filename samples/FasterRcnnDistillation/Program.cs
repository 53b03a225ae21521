using FasterRcnnDistillation.Cli;
using FasterRcnnDistillation.Experiments;

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
    Console.Error.WriteLine(SampleOptions.Usage);
    return 2;
}

new ExperimentRunner(options).Run();
return 0;
