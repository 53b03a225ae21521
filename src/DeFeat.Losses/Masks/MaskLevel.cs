namespace DeFeat.Losses.Masks;

/// <summary>One feature level a mask is built for, as handed to a mask rule by <see cref="ObjectMaskBuilder.Build"/>.</summary>
/// <param name="Size">The level's feature-map size [H_l, W_l] in cells (both &gt; 0).</param>
/// <param name="Stride">The level's stride s_l: input-image pixels per feature cell (&gt; 0). Cell (i, j) covers pixels
/// [j·s, (j+1)·s) × [i·s, (i+1)·s) of the (bottom-right padded) input image.</param>
public readonly record struct MaskLevel(FeatureMapSize Size, double Stride);
