using System.Globalization;

namespace FasterRcnnDistillation.Training;

/// <summary>Writes a run's validation points as CSV: <c>step,map,map50</c> (mAP in %).</summary>
public static class ValidationCurve
{
    public static void Save(string path, IEnumerable<ValidationPoint> points)
    {
        using var writer = new StreamWriter(path, append: false);
        writer.WriteLine("step,map,map50");
        foreach (var point in points)
        {
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{point.Step},{100 * point.Map:F2},{100 * point.Map50:F2}"));
        }
    }
}
