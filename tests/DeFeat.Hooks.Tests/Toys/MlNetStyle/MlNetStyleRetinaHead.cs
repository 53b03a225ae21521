using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Toys.MlNetStyle;

/// <summary>
/// A RetinaNet-like head: shared classification and regression towers (ModuleLists of ConvModule), per-level
/// learnable scales on the box deltas; returns (class logits [B, A·K, H_l, W_l] per level, box deltas [B, A·4, H_l, W_l] per level).
/// </summary>
public class MlNetStyleRetinaHead : nn.Module<List<Tensor>, (List<Tensor> ClassScores, List<Tensor> BoxDeltas)>
{
    public const long Anchors = 3;

#pragma warning disable IDE1006 // field names are the module paths
    private readonly ModuleList<ConvModule> cls_convs;
    private readonly ModuleList<ConvModule> reg_convs;
    private readonly Conv2d retina_cls;
    private readonly Conv2d retina_reg;
    private readonly ModuleList<Scale> scales;
#pragma warning restore IDE1006

    public MlNetStyleRetinaHead(long channels, long classes, int levels)
        : base(nameof(MlNetStyleRetinaHead))
    {
        cls_convs = new ModuleList<ConvModule>(new ConvModule(channels, channels, 3), new ConvModule(channels, channels, 3));
        reg_convs = new ModuleList<ConvModule>(new ConvModule(channels, channels, 3), new ConvModule(channels, channels, 3));
        retina_cls = nn.Conv2d(channels, Anchors * classes, 3, padding: 1);
        retina_reg = nn.Conv2d(channels, Anchors * 4, 3, padding: 1);
        scales = new ModuleList<Scale>([.. Enumerable.Range(0, levels).Select(_ => new Scale(1.0))]);
        RegisterComponents();
    }

    public override (List<Tensor> ClassScores, List<Tensor> BoxDeltas) forward(List<Tensor> features)
    {
        var classScores = new List<Tensor>();
        var boxDeltas = new List<Tensor>();
        for (var level = 0; level < features.Count; level++)
        {
            var cls = features[level];
            var reg = features[level];
            for (var i = 0; i < cls_convs.Count; i++)
            {
                cls = cls_convs[i].forward(cls);
                reg = reg_convs[i].forward(reg);
            }

            classScores.Add(retina_cls.forward(cls));
            boxDeltas.Add(scales[level].forward(retina_reg.forward(reg)));
        }

        return (classScores, boxDeltas);
    }
}
