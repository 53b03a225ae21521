using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Model;

/// <summary>
/// Two shared FC layers (+ ReLU) then a classifier (K + 1 logits, background last) and class-specific box deltas
/// (4K). Pooled RoI features [R, C, S, S] → logits [R, K + 1], deltas [R, 4K].
/// </summary>
public sealed class BoxHead : nn.Module<Tensor, (Tensor Logits, Tensor Deltas)>
{
    private readonly Linear fc1;
    private readonly Linear fc2;
    private readonly Linear classifier;
    private readonly Linear regressor;

    public BoxHead(string name, long inFeatures, long hidden, int classes)
        : base(name)
    {
        fc1 = nn.Linear(inFeatures, hidden);
        fc2 = nn.Linear(hidden, hidden);
        classifier = nn.Linear(hidden, classes + 1);
        regressor = nn.Linear(hidden, classes * 4);
        nn.init.normal_(classifier.weight!, 0, 0.01);
        nn.init.zeros_(classifier.bias!);
        nn.init.normal_(regressor.weight!, 0, 0.001);
        nn.init.zeros_(regressor.bias!);
        RegisterComponents();
    }

    public override (Tensor Logits, Tensor Deltas) forward(Tensor pooled)
    {
        var x = nn.functional.relu(fc1.call(pooled.flatten(1)));
        x = nn.functional.relu(fc2.call(x));
        return (classifier.call(x), regressor.call(x));
    }
}
