namespace DeFeat.Losses.Masks;

/// <summary>The spatial size of one feature level, in cells.</summary>
/// <param name="Height">H_l, rows of the feature map (&gt; 0).</param>
/// <param name="Width">W_l, columns of the feature map (&gt; 0).</param>
public readonly record struct FeatureMapSize(int Height, int Width);
