using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Losses;

/// <summary>
/// When the optional input-value checks (<see cref="Masks.ObjectMaskBuilder.ValidateBoxValues"/>,
/// <see cref="Proposals.DecoupledProposalKdLossOptions.ValidateLabels"/>) run: such a check reads a result back to the
/// host, which on a GPU waits for every queued kernel.
/// </summary>
internal static class ValueChecks
{
    /// <summary>
    /// Whether to check <paramref name="tensor"/>'s values: <paramref name="setting"/> when it is set; unset, only
    /// when the tensor is on the CPU, where reading it waits for nothing.
    /// </summary>
    public static bool Enabled(bool? setting, Tensor tensor) => setting ?? tensor.device_type == DeviceType.CPU;
}
