using FasterRcnnDistillation.Ops;
using static TorchSharp.torch;

namespace FasterRcnnDistillation.Tests;

public class NmsTests
{
    [Fact]
    public void Keeps_a_box_whose_only_suppressor_was_itself_suppressed()
    {
        // A (0.9) suppresses B (IoU 81/119 ≈ 0.68); C overlaps B (0.68) but A only 64/136 ≈ 0.47, so greedy NMS keeps
        // C: it is suppressed by B only, and B is gone. A one-shot "any higher-scored overlap" rule would drop C.
        using var boxes = tensor(new float[] { 0, 0, 10, 10, 1, 1, 11, 11, 2, 2, 12, 12, 50, 50, 60, 60 }, 4, 4);
        using var scores = tensor(new float[] { 0.9f, 0.8f, 0.7f, 0.95f });

        using var kept = Nms.Apply(boxes, scores, 0.5);

        kept.data<long>().ToArray().Should().Equal(3L, 0L, 2L);
    }

    [Fact]
    public void Threshold_is_strict()
    {
        // IoU exactly 0.5: [0,0,2,1] vs [0,0,1,1] = 1 / 2.
        using var boxes = tensor(new float[] { 0, 0, 2, 1, 0, 0, 1, 1 }, 2, 4);
        using var scores = tensor(new float[] { 0.9f, 0.8f });

        Nms.Apply(boxes, scores, 0.5).data<long>().ToArray().Should().Equal(0L, 1L);
        Nms.Apply(boxes, scores, 0.49).data<long>().ToArray().Should().Equal(0L);
    }

    [Fact]
    public void Matches_a_naive_greedy_loop_on_random_boxes()
    {
        var (data, scoreData) = RandomBoxes(seed: 5, count: 120);
        using var boxes = tensor(data, 120, 4);
        using var scores = tensor(scoreData);

        using var kept = Nms.Apply(boxes, scores, 0.4);

        kept.data<long>().ToArray().Should().Equal(NaiveGreedy(data, scoreData, null, 0.4));
    }

    [Fact]
    public void Batched_never_suppresses_across_groups()
    {
        using var boxes = tensor(new float[] { 0, 0, 10, 10, 0, 0, 10, 10, 0, 0, 10, 10 }, 3, 4);
        using var scores = tensor(new float[] { 0.5f, 0.9f, 0.7f });
        using var groups = tensor(new long[] { 0, 1, 0 });

        using var kept = Nms.Batched(boxes, scores, groups, 0.5);

        // Group 1 keeps its single box; group 0 keeps the better of two identical boxes (index 2).
        kept.data<long>().ToArray().Should().Equal(1L, 2L);
    }

    [Fact]
    public void Batched_matches_a_naive_greedy_loop_per_group_on_random_boxes()
    {
        var (data, scoreData) = RandomBoxes(seed: 6, count: 150);
        var groupData = Enumerable.Range(0, 150).Select(i => (long)(i * 7 % 3)).ToArray();
        using var boxes = tensor(data, 150, 4);
        using var scores = tensor(scoreData);
        using var groups = tensor(groupData);

        using var kept = Nms.Batched(boxes, scores, groups, 0.3);

        kept.data<long>().ToArray().Should().Equal(NaiveGreedy(data, scoreData, groupData, 0.3));
    }

    [Fact]
    public void Equal_scores_are_visited_lower_index_first()
    {
        // Two identical boxes with the same score: the first one listed is kept, whatever the sort's pivoting.
        using var boxes = tensor(new float[] { 0, 0, 10, 10, 20, 20, 30, 30, 0, 0, 10, 10 }, 3, 4);
        using var scores = tensor(new float[] { 0.5f, 0.5f, 0.5f });

        Nms.Apply(boxes, scores, 0.5).data<long>().ToArray().Should().Equal(0L, 1L);
    }

    [Fact]
    public void Greedy_with_a_limit_returns_the_prefix_of_the_full_result()
    {
        var (data, scoreData) = RandomBoxes(seed: 8, count: 200);
        var order = Enumerable.Range(0, 200).OrderByDescending(i => scoreData[i]).Select(i => (long)i).ToArray();

        var full = Nms.Greedy(data, order, ReadOnlySpan<long>.Empty, 0.5, int.MaxValue);
        var limited = Nms.Greedy(data, order, ReadOnlySpan<long>.Empty, 0.5, 10);

        full.Select(i => (long)i).Should().Equal(NaiveGreedy(data, scoreData, null, 0.5));
        limited.Should().Equal(full.Take(10));
    }

    [Fact]
    public void Empty_input_gives_empty_output()
    {
        using var boxes = zeros(0, 4);
        using var scores = zeros(0);

        Nms.Apply(boxes, scores, 0.5).shape.Should().Equal(0);
        Nms.Batched(boxes, scores, zeros(0, dtype: int64), 0.5).shape.Should().Equal(0);
    }

    /// <summary>
    /// The definition, one box at a time in double precision: by descending score (ties: lower index first), a box is
    /// kept unless a kept box of its group (all one group when <paramref name="groups"/> is null) overlaps it by more
    /// than the threshold.
    /// </summary>
    internal static long[] NaiveGreedy(float[] boxes, float[] scores, long[]? groups, double threshold)
    {
        var order = Enumerable.Range(0, scores.Length).OrderByDescending(i => scores[i]).ToArray();
        var kept = new List<long>();
        foreach (int i in order)
        {
            bool suppressed = false;
            foreach (int k in kept)
            {
                if (groups is not null && groups[k] != groups[i])
                {
                    continue;
                }

                double iw = Math.Max(0, Math.Min(boxes[i * 4 + 2], boxes[k * 4 + 2]) - Math.Max(boxes[i * 4], boxes[k * 4]));
                double ih = Math.Max(0, Math.Min(boxes[i * 4 + 3], boxes[k * 4 + 3]) - Math.Max(boxes[i * 4 + 1], boxes[k * 4 + 1]));
                double areaI = (boxes[i * 4 + 2] - boxes[i * 4]) * (boxes[i * 4 + 3] - boxes[i * 4 + 1]);
                double areaK = (boxes[k * 4 + 2] - boxes[k * 4]) * (boxes[k * 4 + 3] - boxes[k * 4 + 1]);
                if (iw * ih / (areaI + areaK - iw * ih) > threshold)
                {
                    suppressed = true;
                    break;
                }
            }

            if (!suppressed)
            {
                kept.Add(i);
            }
        }

        return kept.ToArray();
    }

    private static (float[] Boxes, float[] Scores) RandomBoxes(int seed, int count)
    {
        var random = new Random(seed);
        var data = new float[count * 4];
        var scoreData = new float[count];
        for (int i = 0; i < count; i++)
        {
            float x = random.Next(0, 60), y = random.Next(0, 60);
            data[i * 4] = x;
            data[i * 4 + 1] = y;
            data[i * 4 + 2] = x + random.Next(5, 30);
            data[i * 4 + 3] = y + random.Next(5, 30);
            scoreData[i] = (float)random.NextDouble();
        }

        return (data, scoreData);
    }
}
