using System.Diagnostics;
using FasterRcnnDistillation.Data;
using FasterRcnnDistillation.Model;
using FasterRcnnDistillation.Training;
using static TorchSharp.torch;

int n = args.Length > 0 ? int.Parse(args[0]) : 64;
int epochs = args.Length > 1 ? int.Parse(args[1]) : 1;
bool teacher = args.Length > 2 && args[2] == "t";
var (train, val) = SyntheticShapes.Splits(n, 50, 7, 128);
var model = new FasterRcnn(teacher ? DetectorConfig.Teacher(5) : DetectorConfig.Student(5));
var sw = Stopwatch.StartNew();
Trainer.Train(model, train, new TrainingOptions { Epochs = epochs }, "t");
Console.WriteLine($"train {sw.Elapsed}");
sw.Restart();
var r = Trainer.Evaluate(model, val, CPU);
Console.WriteLine($"eval {sw.Elapsed} {r}");
