using System.Diagnostics;
using FasterRcnnDistillation.Training;
using FluentAssertions;

namespace FasterRcnnDistillation.Tests;

/// <summary>
/// The step profile's bookkeeping on a hand-advanced clock: nested phases listed under their outermost phase and
/// counted once, a reference measurement listed apart and left out of the step and of the phase it ran in. Runs alone
/// (the profile is process-wide state that training tests write to when it is on).
/// </summary>
[Collection(SeededRunsCollection.Name)]
public sealed class StepProfileTests
{
    private long ticks;

    [Fact]
    public void Nested_phases_are_listed_under_their_outer_phase_and_a_reference_is_left_out_of_the_step()
    {
        StepProfile.Reset();
        StepProfile.Enabled = true;
        StepProfile.Clock = () => ticks;
        try
        {
            // Warm-up steps are left out of the medians: run them and one counted step, all alike.
            for (var step = 0; step < StepProfile.WarmupSteps + 1; step++)
            {
                using (StepProfile.Step())
                {
                    using (StepProfile.Measure("teacher forward"))
                    {
                        Advance(10);
                        using (StepProfile.Measure("NMS"))
                        {
                            Advance(3);
                        }

                        Advance(2);
                        using (StepProfile.Reference("bare teacher"))
                        {
                            Advance(7);
                            using (StepProfile.Measure("NMS"))
                            {
                                Advance(4);
                            }
                        }
                    }

                    using (StepProfile.Measure("backward"))
                    {
                        Advance(5);
                    }

                    Advance(1);
                }
            }

            var report = StepProfile.Report("test").Split(Environment.NewLine);

            // teacher forward: 10 + 3 + 2 = 15 ms (its 11 ms reference left out); its NMS 3 ms listed under it.
            // The reference: 7 + 4 = 11 ms, its NMS 4 ms under it. Step: 15 + 5 + 1 = 21 ms; rest 1 ms.
            report.Should().Equal(
                "step profile of test: median ms per step over 1 steps (first 2 left out), " + $"{TorchSharp.torch.get_num_threads()} torch threads",
                Line("teacher forward", 15, 21),
                Line("  › NMS", 3, 21),
                Line("backward", 5, 21),
                Line("bare teacher (not in the step)", 11, 21),
                Line("  › NMS", 4, 21),
                Line("rest (freeing, bookkeeping)", 1, 21),
                Line("step", 21, 21));
        }
        finally
        {
            StepProfile.Enabled = false;
            StepProfile.Clock = Stopwatch.GetTimestamp;
            StepProfile.Reset();
        }
    }

    private void Advance(double milliseconds) => ticks += (long)Math.Round(milliseconds * Stopwatch.Frequency / 1000.0);

    private static string Line(string phase, double milliseconds, double step)
        => FormattableString.Invariant($"  {phase,-28} {milliseconds,9:F1} ms {100 * milliseconds / step,6:F1} %");
}
