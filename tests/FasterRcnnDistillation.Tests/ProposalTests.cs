using FasterRcnnDistillation.Model;
using FasterRcnnDistillation.Ops;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Tests;

public class ProposalTests
{
    private static readonly double[] UnitStds = { 1, 1, 1, 1 };

    [Theory]
    [InlineData(1000)]
    [InlineData(25)]
    public void Proposals_of_all_images_match_a_per_image_top_k_decode_and_naive_nms_per_level(int keep)
    {
        // Three levels of 6×6, 3×3 and 2×2 cells with 3 anchors each (108, 27, 12 anchors): the pre-NMS cap of 40 cuts
        // the first two levels. Random objectness and deltas, 3 images of 48 px.
        var config = TinyDetector.Config(16, 16) with { RpnPreNmsPerLevel = 40, RpnNmsIou = 0.5 };
        using var rpn = new RegionProposalNetwork("rpn", 16, config);
        var cells = new[] { 6L, 3, 2 };
        var anchors = cells.Select((c, l) => RegionProposalNetwork.Anchors(c, c, DetectorConfig.Strides[l], config.AnchorScale, config.AnchorRatios, CPU)).ToArray();
        manual_seed(21);
        var objectness = anchors.Select(a => randn(3, a.shape[0])).ToArray();
        var deltas = anchors.Select(a => randn(3, a.shape[0], 4) * 0.5).ToArray();

        var proposals = rpn.Proposals(anchors, objectness, deltas, 48, 48, keep);

        proposals.Should().HaveCount(3);
        for (int i = 0; i < 3; i++)
        {
            var expected = Reference(anchors, objectness, deltas, i, config, keep);
            proposals[i].data<float>().ToArray().Should().Equal(expected);
        }
    }

    /// <summary>One image at a time: per level the best RpnPreNmsPerLevel anchors, decoded, non-empty boxes, NMS per level.</summary>
    private static float[] Reference(Tensor[] anchors, Tensor[] objectness, Tensor[] deltas, int image, DetectorConfig config, int keep)
    {
        var boxes = new List<float>();
        var scores = new List<float>();
        var levels = new List<long>();
        for (int l = 0; l < anchors.Length; l++)
        {
            var levelScores = objectness[l][image].data<float>().ToArray();
            var best = Enumerable.Range(0, levelScores.Length).OrderByDescending(a => levelScores[a]).Take(config.RpnPreNmsPerLevel).ToArray();
            using var index = tensor(best.Select(a => (long)a).ToArray());
            using var decoded = BoxOps.Decode(anchors[l].index_select(0, index), deltas[l][image].index_select(0, index), UnitStds, 48, 48);
            var values = decoded.data<float>().ToArray();
            for (int k = 0; k < best.Length; k++)
            {
                if (values[k * 4 + 2] - values[k * 4] > 1e-3f && values[k * 4 + 3] - values[k * 4 + 1] > 1e-3f)
                {
                    boxes.AddRange(values[(k * 4)..(k * 4 + 4)]);
                    scores.Add(levelScores[best[k]]);
                    levels.Add(l);
                }
            }
        }

        var kept = NmsTests.NaiveGreedy(boxes.ToArray(), scores.ToArray(), levels.ToArray(), config.RpnNmsIou);
        return kept.Take(keep).SelectMany(k => boxes.Skip((int)k * 4).Take(4)).ToArray();
    }
}
