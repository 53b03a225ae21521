using TorchSharp;

namespace DeFeat.Losses.Tests.Proposals;

/// <summary>A <see cref="FactAttribute"/> that skips its test (with a reason) when no CUDA device is available.</summary>
public sealed class CudaOnlyFactAttribute : FactAttribute
{
    public CudaOnlyFactAttribute()
    {
        if (!torch.cuda.is_available())
        {
            Skip = "Needs a CUDA device (none available).";
        }
    }
}
