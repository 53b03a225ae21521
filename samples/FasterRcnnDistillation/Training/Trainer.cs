using System.Diagnostics;
using System.Globalization;
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
    /// <summary>
    /// Trains in place and returns the per-step loss history and validation points. With
    /// <see cref="TrainingOptions.CheckpointFolder"/> set, saves a checkpoint every
    /// <see cref="TrainingOptions.CheckpointEvery"/> steps and after the last; with <see cref="TrainingOptions.Resume"/>,
    /// continues from that checkpoint: the resumed run takes the same batches and gives the same weights as one
    /// that was never interrupted.
    /// </summary>
    public static TrainingRun Train(
        FasterRcnn model, DetectionDataset data, TrainingOptions options, string title, IDistillationObjective? distillation = null)
    {
        HostMemory.KeepFreedMemory();
        manual_seed(options.Seed);
        var order = new Random(options.Seed);
        model.to(options.Device).train();
        var parameters = model.parameters().Concat(distillation?.Parameters ?? Enumerable.Empty<TorchSharp.Modules.Parameter>()).ToList();
        TorchSharp.Modules.OptimizerHelper optimizer = options.Optimizer == TrainingOptions.Sgd
            ? optim.SGD(parameters, options.LearningRate, momentum: 0.9, weight_decay: options.WeightDecay)
            : optim.AdamW(parameters, options.LearningRate, weight_decay: options.WeightDecay);
        int stepsPerEpoch = Math.Max(1, data.Count / options.BatchSize);
        int totalSteps = stepsPerEpoch * options.Epochs;
        var settings = new TrainingRunSettings(
            title, model.Config.Summary, options.Seed, options.BatchSize, totalSteps, data.Count, options.LearningRate, options.WarmupSteps, options.WeightDecay,
            model.Config.RoiSamples);
        var history = new List<Dictionary<string, double>>();
        var validation = new List<ValidationPoint>();
        int firstStep = 0;
        if (options.Resume && options.CheckpointFolder is { } resumeFrom && TrainingCheckpoint.Exists(resumeFrom))
        {
            var progress = TrainingCheckpoint.Load(resumeFrom, settings, model, optimizer, distillation);
            (firstStep, history, validation) = (progress.NextStep, progress.History, progress.Validation);
            model.to(options.Device).train();
            Console.WriteLine($"{title}: resumed from {resumeFrom} at step {firstStep} of {totalSteps}");
        }

        var reporter = new TrainingReporter(title, totalSteps, options.Epochs, firstStep);
        reporter.Run(report =>
        {
            int step = 0;
            for (int epoch = 0; epoch < options.Epochs; epoch++)
            {
                // Drawn for every epoch, also those a resumed run skips, so that the batch order is the same.
                var permutation = Enumerable.Range(0, data.Count).OrderBy(_ => order.Next()).ToArray();
                for (int b = 0; b < stepsPerEpoch; b++, step++)
                {
                    if (step < firstStep)
                    {
                        continue;
                    }

                    var record = TrainStep(model, data, options, distillation, optimizer, parameters, permutation, b, step, totalSteps);
                    history.Add(record);
                    if (!double.IsFinite(record["total"]))
                    {
                        throw new InvalidOperationException($"{title}: non-finite loss at step {step}: {string.Join(", ", record)}");
                    }

                    int done = step + 1;
                    if (options.Validation is not null && (done == totalSteps || (options.ValidateEvery > 0 && done % options.ValidateEvery == 0)))
                    {
                        EvaluationResult metrics;
                        using (distillation?.Suspend())
                        {
                            metrics = Evaluate(model, options.Validation, options.Device);
                        }

                        model.train();
                        validation.Add(new ValidationPoint(done, metrics.Map, metrics.Map50));
                        report.Validated(validation[^1]);
                    }

                    if (options.CheckpointFolder is { } folder && (done == totalSteps || done % options.CheckpointEvery == 0))
                    {
                        TrainingCheckpoint.Save(folder, new TrainingProgress(done, settings, history, validation), model, optimizer, distillation);
                    }

                    report.Stepped(epoch, record);
                }
            }
        });
        if (StepProfile.Enabled)
        {
            Console.WriteLine(StepProfile.Report(title));
        }

        if (CollectionPause.EndedEarly > 0)
        {
            Console.WriteLine($"{title}: {CollectionPause.EndedEarly} step(s) allocated more than {CollectionPause.Budget >> 20} MB of managed memory; their no-GC region lapsed (see CollectionPause).");
        }

        return new TrainingRun(history, validation);
    }

    /// <summary>COCO-style mAP of <paramref name="model"/> on <paramref name="data"/>.</summary>
    public static EvaluationResult Evaluate(FasterRcnn model, DetectionDataset data, Device device, int batchSize = 16)
    {
        HostMemory.KeepFreedMemory();
        model.to(device).eval();
        var detections = new List<Detection>();
        var groundTruths = new List<GroundTruth>();
        for (int start = 0; start < data.Count; start += batchSize)
        {
            var samples = data.Samples.Skip(start).Take(batchSize).ToList();
            using var pause = CollectionPause.Start();
            using var batch = DetectionBatch.Collate(samples, device);
            detections.AddRange(model.Detect(batch.Images, start));
            groundTruths.AddRange(samples.SelectMany((s, i) =>
                Enumerable.Range(0, s.ObjectCount).Select(k => new GroundTruth(start + i, s.Boxes[(k * 4)..(k * 4 + 4)], (int)s.Labels[k]))));
        }

        return CocoEvaluator.Evaluate(detections, groundTruths, data.ClassNames.Count);
    }

    private static Dictionary<string, double> TrainStep(
        FasterRcnn model, DetectionDataset data, TrainingOptions options, IDistillationObjective? distillation, optim.Optimizer optimizer,
        List<TorchSharp.Modules.Parameter> parameters, int[] permutation, int batchIndex, int step, int totalSteps)
    {
        using var wholeStep = StepProfile.Step();
        using var pause = CollectionPause.Start();
        using var scope = NewDisposeScope();
        SetLearningRate(optimizer, options, step, totalSteps);
        DetectionBatch batch;
        using (StepProfile.Measure("collation"))
        {
            batch = DetectionBatch.Collate(
                permutation.Skip(batchIndex * options.BatchSize).Take(options.BatchSize).Select(i => data.Samples[i]).ToList(), options.Device);
        }

        using var disposeBatch = batch;
        using (StepProfile.Measure("teacher forward (distillation)"))
        {
            distillation?.BeforeStudent(batch);
        }

        var output = model.TrainingForward(batch);
        var terms = new Dictionary<string, Tensor>(output.Losses);
        var total = terms.Values.Aggregate((a, c) => a + c);
        if (distillation is not null)
        {
            using var losses = StepProfile.Measure("distillation losses");
            var kd = distillation.Losses(batch, total);
            foreach (var (name, value) in kd.Parts.Concat(kd.Logged))
            {
                terms[name] = value;
            }

            total = total + kd.Total;
        }
        using (StepProfile.Measure("backward"))
        {
            optimizer.zero_grad();
            total.backward();
        }

        using (StepProfile.Measure("clip + optimizer"))
        {
            nn.utils.clip_grad_norm_(parameters, options.ClipNorm);
            optimizer.step();
        }

        using (StepProfile.Measure("host reads"))
        {
            return ReadLosses(terms, total);
        }
    }

    /// <summary>The step's loss terms (and logged values) and the trained total as numbers, in one read from the device.</summary>
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
