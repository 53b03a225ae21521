using FasterRcnnDistillation.Data;
using FasterRcnnDistillation.Model;

namespace FasterRcnnDistillation.Tests;

/// <summary>Detector configurations small enough for a test to train in well under a second per step.</summary>
internal static class TinyDetector
{
    public static DetectorConfig Config(int width, int fpn) => new()
    {
        BlockCounts = new[] { 1, 1, 1, 1 },
        BaseWidth = width,
        FpnChannels = fpn,
        Classes = SyntheticShapes.ClassNames.Count,
        HeadHidden = 32,
        RpnPreNmsPerLevel = 100,
        RpnPostNmsTrain = 50,
        RpnPostNmsTest = 50,
        RoiSamples = 32,
    };
}
