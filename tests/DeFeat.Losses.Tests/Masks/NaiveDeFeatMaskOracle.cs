namespace DeFeat.Losses.Tests.Masks;

/// <summary>
/// The DeFeat mask written the official way, independently of the library: per image, per box, compute the level
/// with Math.Log2 and assign 1 to a slice of a double[,] grid with plain loops (indices clamped as documented).
/// </summary>
internal static class NaiveDeFeatMaskOracle
{
    /// <summary>
    /// masks[level][image] is an H × W grid. boxes[image] holds (x1, y1, x2, y2) rows; canonicalSize is the c of the
    /// level rule (mmdetection's finest_scale, 56 in the official code).
    /// </summary>
    public static double[][][,] Build(double[][][] boxes, (int Height, int Width)[] sizes, double[] strides, bool allLevels = false, double canonicalSize = 56)
    {
        var masks = new double[sizes.Length][][,];
        for (var level = 0; level < sizes.Length; level++)
        {
            masks[level] = new double[boxes.Length][,];
            for (var image = 0; image < boxes.Length; image++)
            {
                masks[level][image] = new double[sizes[level].Height, sizes[level].Width];
            }
        }

        for (var image = 0; image < boxes.Length; image++)
        {
            foreach (var box in boxes[image])
            {
                for (var level = 0; level < sizes.Length; level++)
                {
                    if (allLevels || level == Level(box, sizes.Length, canonicalSize))
                    {
                        Mark(masks[level][image], box, strides[level]);
                    }
                }
            }
        }

        return masks;
    }

    public static int Level(double[] box, int levelCount, double canonicalSize = 56)
    {
        var scale = Math.Sqrt((box[2] - box[0] + 1) * (box[3] - box[1] + 1));
        var level = (int)Math.Floor(Math.Log2((scale / canonicalSize) + 1e-6));
        return Math.Clamp(level, 0, levelCount - 1);
    }

    /// <summary>Rows [int(y1/s), min(int(y2/s), H)) × columns [int(x1/s), min(int(x2/s), W)), else the clamped single cell.</summary>
    public static void Mark(double[,] grid, double[] box, double stride)
    {
        var (height, width) = (grid.GetLength(0), grid.GetLength(1));
        var rowStart = Math.Clamp((int)(box[1] / stride), 0, height);
        var rowEnd = Math.Clamp((int)(box[3] / stride), 0, height);
        var columnStart = Math.Clamp((int)(box[0] / stride), 0, width);
        var columnEnd = Math.Clamp((int)(box[2] / stride), 0, width);
        if (rowEnd <= rowStart || columnEnd <= columnStart)
        {
            grid[Math.Clamp((int)(box[1] / stride), 0, height - 1), Math.Clamp((int)(box[0] / stride), 0, width - 1)] = 1;
            return;
        }

        for (var row = rowStart; row < rowEnd; row++)
        {
            for (var column = columnStart; column < columnEnd; column++)
            {
                grid[row, column] = 1;
            }
        }
    }
}
