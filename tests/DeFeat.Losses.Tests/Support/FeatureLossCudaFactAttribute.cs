using TorchSharp;

namespace DeFeat.Losses.Tests.Support;

/// <summary>A fact that is skipped (not failed) when no CUDA device is available.</summary>
public sealed class FeatureLossCudaFactAttribute : FactAttribute
{
    public FeatureLossCudaFactAttribute()
    {
        if (!torch.cuda.is_available())
        {
            Skip = "CUDA is not available on this machine.";
        }
    }
}
