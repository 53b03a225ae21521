using FasterRcnnDistillation.Data;
using FasterRcnnDistillation.Evaluation;
using FasterRcnnDistillation.Model;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Training;

/// <summary>Trains and evaluates a <see cref="FasterRcnn"/>, reporting every loss component per step.</summary>
public static class Trainer
{
    /// <summary>Trains in place and returns the per-step loss history (name → value, "total" included).</summary>
    public static List<Dictionary<string, double>> Train(
        FasterRcnn model, DetectionDataset data, TrainingOptions options, string title, IDistillationObjective? distillation = null)
    {
        HostMemory.KeepFreedMemory();
        manual_seed(options.Seed);
        var order = new Random(options.Seed);
        model.to(options.Device).train();
        var parameters = model.parameters().Concat(distillation?.Parameters ?? Enumerable.Empty<TorchSharp.Modules.Parameter>()).ToList();
        var optimizer = optim.AdamW(parameters, options.LearningRate, weight_decay: options.WeightDecay);
        int stepsPerEpoch = Math.Max(1, data.Count / options.BatchSize);
        int totalSteps = stepsPerEpoch * options.Epochs;
        var history = new List<Dictionary<string, double>>();

        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask(Markup.Escape(title), maxValue: totalSteps);
                int step = 0;
                for (int epoch = 0; epoch < options.Epochs; epoch++)
                {
                    var permutation = Enumerable.Range(0, data.Count).OrderBy(_ => order.Next()).ToArray();
                    for (int b = 0; b < stepsPerEpoch; b++, step++)
                    {
                        using var wholeStep = StepProfile.Step();
                        using var scope = NewDisposeScope();
                        SetLearningRate(optimizer, options, step, totalSteps);
                        DetectionBatch batch;
                        using (StepProfile.Measure("collation"))
                        {
                            batch = DetectionBatch.Collate(
                                permutation.Skip(b * options.BatchSize).Take(options.BatchSize).Select(i => data.Samples[i]).ToList(), options.Device);
                        }

                        using var disposeBatch = batch;
                        distillation?.BeforeStudent(batch);
                        var output = model.TrainingForward(batch);
                        var terms = new Dictionary<string, Tensor>(output.Losses);
                        if (distillation is not null)
                        {
                            foreach (var (name, value) in distillation.Losses(batch))
                            {
                                terms[name] = value;
                            }
                        }

                        var total = terms.Values.Aggregate((a, c) => a + c);
                        using (StepProfile.Measure("backward"))
                        {
                            optimizer.zero_grad();
                            total.backward();
                        }

                        using (StepProfile.Measure("clip + optimizer"))
                        {
                            nn.utils.clip_grad_norm_(parameters, 10.0);
                            optimizer.step();
                        }

                        Dictionary<string, double> record;
                        using (StepProfile.Measure("host reads"))
                        {
                            record = ReadLosses(terms, total);
                        }

                        history.Add(record);
                        task.Description = Markup.Escape($"{title} e{epoch + 1}/{options.Epochs} ")
                            + string.Join(" ", record.Select(r => $"[grey]{Markup.Escape(r.Key)}[/] {r.Value:F3}"));
                        task.Increment(1);
                        if (!double.IsFinite(record["total"]))
                        {
                            throw new InvalidOperationException($"{title}: non-finite loss at step {step}: {string.Join(", ", record)}");
                        }
                    }
                }
            });
        if (StepProfile.Enabled)
        {
            Console.WriteLine(StepProfile.Report(title));
        }

        return history;
    }

    /// <summary>COCO-style mAP of <paramref name="model"/> on <paramref name="data"/>.</summary>
    public static EvaluationResult Evaluate(FasterRcnn model, DetectionDataset data, Device device, int batchSize = 16)
    {
        HostMemory.KeepFreedMemory();
        model.to(device).eval();
        var detections = new List<Detection>();
        for (int start = 0; start < data.Count; start += batchSize)
        {
            using var batch = DetectionBatch.Collate(data.Samples.Skip(start).Take(batchSize).ToList(), device);
            detections.AddRange(model.Detect(batch.Images, start));
        }

        var groundTruths = data.Samples
            .SelectMany((s, i) => Enumerable.Range(0, s.ObjectCount).Select(k => new GroundTruth(i, s.Boxes[(k * 4)..(k * 4 + 4)], (int)s.Labels[k])))
            .ToList();
        return CocoEvaluator.Evaluate(detections, groundTruths, data.ClassNames.Count);
    }

    /// <summary>The step's loss terms and their total as numbers, in one read from the device.</summary>
    private static Dictionary<string, double> ReadLosses(Dictionary<string, Tensor> terms, Tensor total)
    {
        using var scope = NewDisposeScope();
        var values = stack(terms.Values.Append(total).Select(t => t.detach().to(float32)).ToArray()).cpu().data<float>().ToArray();
        var record = terms.Keys.Select((name, i) => (name, i)).ToDictionary(p => p.name, p => (double)values[p.i]);
        record["total"] = values[^1];
        return record;
    }

    private static void SetLearningRate(optim.Optimizer optimizer, TrainingOptions options, int step, int totalSteps)
    {
        double rate = step < options.WarmupSteps
            ? options.LearningRate * (0.1 + 0.9 * step / options.WarmupSteps)
            : options.LearningRate * (0.05 + 0.95 * 0.5 * (1 + Math.Cos(Math.PI * (step - options.WarmupSteps) / Math.Max(1, totalSteps - options.WarmupSteps))));
        foreach (var group in optimizer.ParamGroups)
        {
            group.LearningRate = rate;
        }
    }
}
