using DeFeat.Hooks.Diagnostics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Diagnostics;

public class TypeNamesTests
{
    [Theory]
    [InlineData(typeof(nn.Module<List<Tensor>, List<Tensor>>), "nn.Module<List<Tensor>, List<Tensor>>")]
    [InlineData(typeof(nn.Module<Tensor[], (Tensor P1, Tensor P2)>), "nn.Module<Tensor[], (Tensor, Tensor)>")]
    [InlineData(typeof(ModuleList<Conv2d>), "ModuleList<Conv2d>")]
    [InlineData(typeof(Dictionary<string, int?>), "Dictionary<string, int?>")]
    [InlineData(typeof(long[,]), "long[,]")]
    [InlineData(typeof(Outer.Inner<double>), "TypeNamesTests.Outer.Inner<double>")]
    public void Types_are_spelled_as_csharp_source_writes_them(Type type, string expected)
        => TypeNames.Of(type).Should().Be(expected);

    public static class Outer
    {
        public sealed class Inner<T>;
    }
}
