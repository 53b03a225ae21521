namespace DeFeat.Hooks.Terms;

/// <summary>The size of the (resized, padded) input image batch the detectors see, in pixels.</summary>
/// <param name="Height">Image height in pixels (&gt; 0).</param>
/// <param name="Width">Image width in pixels (&gt; 0).</param>
public readonly record struct ImageSize(int Height, int Width);
