using DeFeat.Benchmarks.Official;
using DeFeat.Losses;
using DeFeat.Losses.Features;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Benchmarks.Workloads;

/// <summary>
/// One neck-loss case: student features (leaf tensors that require a gradient, standing in for the adapted student),
/// detached teacher features, and GT object masks from 20 boxes per image (float64 for the official port, as its
/// mask builder makes them; float32 for ours). λ_obj = 4, λ_bg = 16 (COCO) in both. No adaptation layers: they are
/// the same convolutions in both implementations and would only add the same time to each.
/// </summary>
internal sealed class NeckLossWorkload : IDisposable
{
    private const int BoxesPerImage = 20;

    private readonly Tensor[] student;
    private readonly Tensor[] teacher;
    private readonly Tensor[] officialMasks;
    private readonly Tensor[] masks;
    private readonly OfficialNeckLoss officialLoss;
    private readonly DecoupledFeatureLoss loss;

    private NeckLossWorkload(string shapeName, int batch, string deviceName)
    {
        var shape = FpnShape.Named(shapeName);
        Device = torch.device(deviceName);
        var options = DecoupledFeatureLossOptions.Coco;
        officialLoss = new OfficialNeckLoss(options.ObjectWeight, options.BackgroundWeight);
        loss = new DecoupledFeatureLoss(options);

        student = [.. SyntheticDetectionData.NeckFeatures(shape, batch, Device, seed: 1).Select(feature => feature.requires_grad_(true))];
        teacher = SyntheticDetectionData.NeckFeatures(shape, batch, Device, seed: 2);
        using (var scope = NewDisposeScope())
        {
            var boxes = SyntheticDetectionData.GroundTruthBoxes(shape, batch, BoxesPerImage, Device);
            officialMasks = [.. OfficialMaskBuilder.Build(boxes, shape.Levels, FpnShape.Strides).Select(mask => mask.MoveToOuterDisposeScope())];
        }

        masks = [.. officialMasks.Select(mask => mask.to_type(ScalarType.Float32))];
    }

    public Device Device { get; }

    /// <summary>Creates the case and checks that both implementations give the same loss and gradient norm.</summary>
    public static NeckLossWorkload Create(string shapeName, int batch, string deviceName)
    {
        var workload = new NeckLossWorkload(shapeName, batch, deviceName);
        using var scope = NewDisposeScope();
        var official = workload.Official();
        var ours = workload.Ours();
        Agreement.Scalars($"neck loss object part ({shapeName}, B={batch})", official.Object, ours.Object, 1e-3);
        Agreement.Scalars($"neck loss background part ({shapeName}, B={batch})", official.Background, ours.Background, 1e-3);
        Agreement.Scalars($"neck loss total ({shapeName}, B={batch})", official.Total, ours.Total, 1e-3);
        return workload;
    }

    /// <summary>The official-algorithm forward pass (autograd recording, as in a training step).</summary>
    public DecoupledLoss Official() => officialLoss.Forward(student, teacher, officialMasks);

    /// <summary>Our forward pass (autograd recording, as in a training step).</summary>
    public DecoupledLoss Ours() => loss.call(student, teacher, masks);

    /// <summary>Back-propagates a loss to the student features, then drops the gradients so no call accumulates.</summary>
    public void Backward(DecoupledLoss result)
    {
        result.Total.backward();
        foreach (var feature in student)
        {
            feature.grad?.Dispose();
            feature.grad = null;
        }
    }

    public void Synchronize() => BenchmarkDevices.Synchronize(Device);

    public void Dispose()
    {
        foreach (var tensor in student.Concat(teacher).Concat(officialMasks).Concat(masks))
        {
            tensor.Dispose();
        }

        loss.Dispose();
    }
}
