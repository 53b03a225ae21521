using FasterRcnnDistillation.Model;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Tests;

public class BoxHeadTests
{
    [Fact]
    public void Pooled_features_laid_out_y_first_give_the_outputs_and_gradients_of_contiguous_ones()
    {
        // RoIAlign's result is a [R, C, S, S] view of (y, channel, x) memory; the head must not depend on the layout.
        manual_seed(9);
        using var head = new BoxHead("box_head", 6 * 3 * 3, 8, classes: 2);
        using var yFirst = randn(5, 3, 6, 3);
        using var view = yFirst.permute(0, 2, 1, 3);
        using var contiguous = view.contiguous();

        var (viewLogits, viewDeltas) = head.call(view);
        var viewGrads = Gradients(head, viewLogits.sum() + viewDeltas.sum());
        var (logits, deltas) = head.call(contiguous);
        var grads = Gradients(head, logits.sum() + deltas.sum());

        viewLogits.allclose(logits, rtol: 1e-5, atol: 1e-6).Should().BeTrue();
        viewDeltas.allclose(deltas, rtol: 1e-5, atol: 1e-6).Should().BeTrue();
        viewGrads.Zip(grads).Should().OnlyContain(pair => pair.First.allclose(pair.Second, 1e-5, 1e-6, false));
    }

    private static List<Tensor> Gradients(BoxHead head, Tensor loss)
    {
        head.zero_grad();
        loss.backward();
        return head.parameters().Select(p => p.grad!.clone()).ToList();
    }
}
