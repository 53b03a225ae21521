// Placeholder entry point until the benchmarks land (issue 5).
Console.WriteLine("DeFeat benchmarks: not yet implemented.");
