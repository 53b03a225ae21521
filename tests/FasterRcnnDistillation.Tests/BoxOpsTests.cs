using FasterRcnnDistillation.Ops;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Tests;

public class BoxOpsTests
{
    [Fact]
    public void Iou_matches_hand_computed_overlaps()
    {
        using var a = tensor(new float[] { 0, 0, 2, 2, 0, 0, 10, 10 }, 2, 4);
        using var b = tensor(new float[] { 1, 1, 3, 3, 5, 5, 6, 6, 0, 0, 2, 2 }, 3, 4);

        using var iou = BoxOps.Iou(a, b);

        // [0,0,2,2] vs [1,1,3,3]: intersection 1, union 4 + 4 − 1 = 7. [0,0,10,10] contains [1,1,3,3] (4 / 100),
        // [5,5,6,6] (1 / 100) and [0,0,2,2] (4 / 100).
        iou.shape.Should().Equal(2, 3);
        var values = iou.data<float>().ToArray();
        values.Should().Equal(new[] { 1f / 7, 0f, 1f, 4f / 100, 1f / 100, 4f / 100 }, (x, y) => Math.Abs(x - y) < 1e-6);
    }

    [Fact]
    public void Iou_of_a_degenerate_box_is_zero_not_nan()
    {
        using var a = tensor(new float[] { 3, 3, 3, 3 }, 1, 4);

        using var iou = BoxOps.Iou(a, a);

        iou.item<float>().Should().Be(0f);
    }

    [Fact]
    public void Encode_gives_hand_computed_deltas_scaled_by_stds()
    {
        using var reference = tensor(new float[] { 0, 0, 10, 10 }, 1, 4);
        using var target = tensor(new float[] { 5, 5, 15, 25 }, 1, 4);

        using var deltas = BoxOps.Encode(reference, target, new[] { 0.1, 0.1, 0.2, 0.2 });

        // Centres (5, 5) → (10, 15), sizes 10×10 → 10×20: dx = 0.5, dy = 1, dw = 0, dh = ln 2; then / stds.
        deltas.data<float>().ToArray().Should().Equal(
            new[] { 5f, 10f, 0f, (float)(Math.Log(2) / 0.2) }, (x, y) => Math.Abs(x - y) < 1e-5);
    }

    [Fact]
    public void Decode_inverts_encode_for_boxes_inside_the_image()
    {
        using var reference = tensor(new float[] { 0, 0, 10, 10, 20, 30, 50, 40, 7, 8, 9, 60 }, 3, 4);
        using var target = tensor(new float[] { 5, 5, 15, 25, 10, 31, 61, 33, 1, 2, 30, 70 }, 3, 4);
        var stds = new[] { 0.1, 0.1, 0.2, 0.2 };

        using var deltas = BoxOps.Encode(reference, target, stds);
        using var decoded = BoxOps.Decode(reference, deltas, stds, height: 100, width: 100);

        decoded.data<float>().ToArray().Should().Equal(target.data<float>().ToArray(), (x, y) => Math.Abs(x - y) < 1e-4);
    }

    [Fact]
    public void Decode_clips_to_the_image_and_bounds_the_size_ratio()
    {
        using var reference = tensor(new float[] { 10, 10, 20, 20 }, 1, 4);
        using var deltas = tensor(new float[] { 0, 0, 100, 0 }, 1, 4);

        using var decoded = BoxOps.Decode(reference, deltas, new[] { 1.0, 1, 1, 1 }, height: 50, width: 40);

        // dw is clamped to ln(1000/16): the width becomes 10 · 62.5 = 625, centred at 15, then clipped to [0, 40].
        decoded.data<float>().ToArray().Should().Equal(new[] { 0f, 10f, 40f, 20f }, (x, y) => Math.Abs(x - y) < 1e-4);
    }
}
