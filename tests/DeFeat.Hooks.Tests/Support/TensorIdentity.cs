using TorchSharp;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Support;

/// <summary>Whether two tensor handles show the same tensor: same storage address and offset, shape, strides and dtype.</summary>
public static class TensorIdentity
{
    public static bool SameTensor(Tensor? first, Tensor? second)
        => first is not null && second is not null
           && first.dtype == second.dtype
           && Address(first) == Address(second)
           && first.storage_offset() == second.storage_offset()
           && first.shape.SequenceEqual(second.shape)
           && first.stride().SequenceEqual(second.stride());

    private static IntPtr Address(Tensor tensor)
        => tensor.dtype switch
        {
            ScalarType.Float32 => tensor.storage<float>().data_ptr(),
            ScalarType.Float64 => tensor.storage<double>().data_ptr(),
            ScalarType.Int64 => tensor.storage<long>().data_ptr(),
            _ => throw new NotSupportedException($"dtype {tensor.dtype}"),
        };
}
