using DeFeat.Hooks.Tests.Toys;
using DeFeat.Hooks.Tests.Toys.MlNetStyle;
using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Reliability;

/// <summary>
/// The toys that the distillation tests train have 3×3 convolutions whose output channels are not a multiple of 16
/// (e.g. the RetinaNet-style class head, 8 → 9; necks of width 4 or 8): inside the envelope of libtorch's faulty oneDNN
/// backward (docs/cpu-convolution-nan.md). With this assembly's workaround in force, one step's float32 gradients of
/// every parameter must match the same model's float64 gradients (computed without oneDNN), not only be finite.
/// </summary>
public class ToyGradientTests
{
    public static TheoryData<string> Toys => new() { "MlNetStyleRetinaNet(8)", "MlNetStyleRetinaNet(4)", "MlNetStyleFasterRcnn(8)", "OneStageToy(4)", "TwoStageToy(4)" };

    [Theory]
    [MemberData(nameof(Toys))]
    public void One_steps_float32_gradients_match_float64(string toy)
    {
        using var scope = NewDisposeScope();
        using var model32 = Create(toy);
        using var model64 = Create(toy);
        model64.load_state_dict(model32.state_dict());
        model64.to(float64);
        model32.train();
        model64.train();
        var images = torch.rand(2, 3, 32, 32, generator: new Generator(5));

        Loss(model32, images).backward();
        Loss(model64, images.to(float64)).backward();

        var gradients64 = model64.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad);
        // Gradients that are zero in exact arithmetic (a convolution bias before a batch norm) are float32 noise: each
        // parameter's error is measured against its own scale, floored at 1e-3 of the model's largest gradient.
        var modelScale = gradients64.Values.Where(g => g is not null).Max(g => g!.abs().max().item<double>());
        foreach (var (name, parameter) in model32.named_parameters())
        {
            var reference = gradients64[name];
            if (parameter.grad is null || reference is null)
            {
                (parameter.grad is null).Should().Be(reference is null, $"{toy} {name}: a gradient in one precision only");
                continue;
            }

            var got = parameter.grad.to(float64);
            got.isfinite().all().item<bool>().Should().BeTrue($"{toy} {name}");
            var scale = reference.abs().max().item<double>();
            var error = (got - reference).abs().max().item<double>() / Math.Max(scale, 1e-3 * modelScale);
            error.Should().BeLessThan(1e-3, $"{toy} {name} (gradient scale {scale:G3})");
        }
    }

    private static nn.Module Create(string toy)
    {
        torch.manual_seed(11);
        return toy switch
        {
            "MlNetStyleRetinaNet(8)" => new MlNetStyleRetinaNet(8),
            "MlNetStyleRetinaNet(4)" => new MlNetStyleRetinaNet(4),
            "MlNetStyleFasterRcnn(8)" => new MlNetStyleFasterRcnn(8, seed: 3),
            "OneStageToy(4)" => new OneStageToy(4),
            _ => new TwoStageToy(4, seed: 3),
        };
    }

    private static Tensor Loss(nn.Module model, Tensor images) => model switch
    {
        MlNetStyleRetinaNet retina => MlNetStyleRetinaNet.Loss(retina.call(images)),
        nn.Module<Tensor, Tensor> plain => plain.call(images).square().mean(),
        _ => throw new ArgumentException($"unknown toy {model.GetType().Name}"),
    };
}
