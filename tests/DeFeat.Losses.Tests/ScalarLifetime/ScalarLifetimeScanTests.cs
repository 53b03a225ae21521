using DeFeat.Losses.Features;
using DeFeat.Testing;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DeFeat.Losses.Tests.ScalarLifetime;

public class ScalarLifetimeScanTests(ITestOutputHelper output)
{
    private static readonly string[] Unkept =
    [
        nameof(Fixtures.TensorPlusTensor), nameof(Fixtures.TensorTimesNumber), nameof(Fixtures.NumberArgument),
        nameof(Fixtures.UndisposedLocal), nameof(Fixtures.Square), nameof(Fixtures.Arange),
    ];

    [Fact]
    public void Library_code_keeps_every_Scalar_it_passes_alive_across_the_native_call()
        => ScalarLifetimeScan.ShouldFindNoneIn(typeof(DecoupledFeatureLoss).Assembly, nameof(Scalars), output);

    [Theory]
    [InlineData(nameof(Fixtures.TensorPlusTensor), "Tensor.op_Addition(Tensor, Tensor), which calls Tensor.add(Tensor), which does not keep the Scalar from Scalar.op_Implicit(Int32) alive")]
    [InlineData(nameof(Fixtures.TensorTimesNumber), "Tensor.op_Multiply(Tensor, Double), which does not keep the Scalar from Scalar.op_Implicit(Double) alive")]
    [InlineData(nameof(Fixtures.NumberArgument), "does not keep the Scalar from Scalar.op_Implicit(Double) alive")]
    [InlineData(nameof(Fixtures.UndisposedLocal), "does not keep the Scalar from ScalarExtensionMethods.ToScalar(Double) alive")]
    [InlineData(nameof(Fixtures.Square), "Tensor.square(), which does not keep the Scalar from Scalar.op_Implicit(Int32) alive")]
    [InlineData(nameof(Fixtures.Arange), "torch.arange(Scalar, Nullable`1, Device, Boolean), which does not keep the Scalar from Scalar.op_Implicit(Int32) alive")]
    public void The_scan_reports_each_way_of_passing_a_temporary_Scalar(string method, string finding)
    {
        var findings = ScalarLifetimeScan.Find([typeof(Fixtures)]).Where(line => line.Contains($".{method}: ")).ToList();

        findings.Should().Contain(line => line.Contains(finding));
    }

    [Fact]
    public void The_scan_accepts_kept_Scalars_and_tensor_only_arithmetic()
    {
        var findings = ScalarLifetimeScan.Find([typeof(Fixtures)]);

        findings.Should().OnlyContain(line => Unkept.Any(method => line.Contains($".{method}: ")));
    }

    /// <summary>Three ways to keep a Scalar alive and six ways not to.</summary>
    private static class Fixtures
    {
        private static readonly Scalar One = 1;

        public static Tensor TensorPlusTensor(Tensor a, Tensor b) => a + b;

        public static Tensor TensorTimesNumber(Tensor a) => a * 2.0;

        public static Tensor NumberArgument(Tensor a) => a.mul(2.0);

        public static Tensor UndisposedLocal(Tensor a, double weight)
        {
            var scalar = weight.ToScalar();
            return a.mul(scalar);
        }

        public static Tensor Square(Tensor a) => a.square();

        public static Tensor Arange(long count) => arange(count);

        public static Tensor KeptByUsing(Tensor a, double weight)
        {
            using var scalar = weight.ToScalar();
            return a.mul(scalar);
        }

        public static Tensor KeptByStaticConstant(Tensor a, Tensor b) => a.add(b, One);

        public static Tensor KeptTensorOnly(Tensor a, Tensor b) => (a - b).mul(b).div(a).maximum(b).pow(a);
    }
}
