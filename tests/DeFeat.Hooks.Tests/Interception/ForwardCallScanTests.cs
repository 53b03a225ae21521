using System.Reflection;
using DeFeat.Hooks.Interception;
using DeFeat.Hooks.Tests.Toys;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.Interception;

/// <summary>
/// <see cref="ForwardCallScan"/> on the toy parents below (compiled with the test project, so Debug IL by default):
/// each row names a parent type, the field holding the child, the child's runtime type and whether the child is an
/// element of the collection in that field.
/// </summary>
public sealed class ForwardCallScanTests
{
    [Theory]
    [InlineData(typeof(ScanChainToy), "a", typeof(Conv2d), false, "ScanChainToy.forward")]
    [InlineData(typeof(ScanNestedToy), "a", typeof(Conv2d), false, "ScanNestedToy.forward")] // a.forward(b.call(x) + c.call(x))
    [InlineData(typeof(ScanNestedToy), "d", typeof(Conv2d), false, "ScanNestedToy.forward")] // b.call(d.forward(y) * c.call(y))
    [InlineData(typeof(ScanModuleFieldToy), "body", typeof(Conv2d), false, "ScanModuleFieldToy.forward")] // nn.Module<Tensor, Tensor> field
    [InlineData(typeof(ScanListToy), "viaForward", typeof(Conv2d), true, "ScanListToy.forward")] // list[i].forward(x) in a loop
    [InlineData(typeof(ScanHelperToy), "a", typeof(Conv2d), false, "ScanHelperToy.Helper")]
    [InlineData(typeof(ScanHelperToy), "b", typeof(Conv2d), false, "ScanHelperToy.forward (local function Local)")]
    [InlineData(typeof(ScanHelperToy), "d", typeof(Conv2d), false, "ScanHelperToy.forward (lambda)")]
    [InlineData(typeof(ScanHelperToy), "e", typeof(Conv2d), false, "ScanHelperToy.Levels (iterator or async)")]
    [InlineData(typeof(ScanDerivedToy), "stem", typeof(Conv2d), false, "ScanBaseToy.Stem")] // the call is in the base class
    [InlineData(typeof(ScanBranchToy), "a", typeof(Conv2d), false, "ScanBranchToy.forward")] // in an if branch
    [InlineData(typeof(ScanBranchToy), "d", typeof(Conv2d), false, "ScanBranchToy.forward")] // in a conditional in a loop
    [InlineData(typeof(ScanLocalToy), "a", typeof(Conv2d), false, "ScanLocalToy.forward")] // var conv = this.a; conv.forward(x)
    [InlineData(typeof(ScanGenericToy<int>), "a", typeof(Conv2d), false, "ScanGenericToy<int>.forward")]
    [InlineData(typeof(OneStageToy), "neck", typeof(ToyTupleFpn), false, "OneStageToy.forward")] // forward in one branch
    public void A_forward_call_on_the_child_is_found(Type owner, string field, Type childType, bool elementAccess, string site)
        => Scan(owner, field, childType, elementAccess).Should().Equal(site);

    [Theory]
    [InlineData(typeof(ScanChainToy), "b", typeof(Conv2d), false)] // this.b.call(this.a.forward(x))
    [InlineData(typeof(ScanNestedToy), "b", typeof(Conv2d), false)]
    [InlineData(typeof(ScanNestedToy), "c", typeof(Conv2d), false)]
    [InlineData(typeof(ScanModuleFieldToy), "body", typeof(ToyFpn), false)] // Module<Tensor, Tensor>.forward is no forward of a ToyFpn
    [InlineData(typeof(ScanListToy), "viaForward", typeof(Conv2d), false)] // the items, not the list, are called
    [InlineData(typeof(ScanListToy), "viaCall", typeof(Conv2d), true)] // list[i].call(x)
    [InlineData(typeof(ScanHelperToy), "c", typeof(Conv2d), false)]
    [InlineData(typeof(ScanDerivedToy), "head", typeof(Conv2d), false)]
    [InlineData(typeof(ScanBranchToy), "b", typeof(Conv2d), false)]
    [InlineData(typeof(ScanBranchToy), "c", typeof(Conv2d), false)]
    [InlineData(typeof(ScanTernaryReceiverToy), "a", typeof(Conv2d), false)] // conservative: (Flag ? a : b).forward(x)
    [InlineData(typeof(ScanTernaryReceiverToy), "b", typeof(Conv2d), false)] // joins two paths before the call
    [InlineData(typeof(ScanReassignedLocalToy), "a", typeof(Conv2d), false)] // a local stored twice is not followed
    [InlineData(typeof(ScanReassignedLocalToy), "b", typeof(Conv2d), false)]
    [InlineData(typeof(OneStageToy), "backbone", typeof(ToyBackbone), false)]
    [InlineData(typeof(OneStageToy), "cls_head", typeof(Conv2d), false)]
    public void No_site_is_claimed_for_a_child_called_with_call_or_an_unproven_receiver(
        Type owner, string field, Type childType, bool elementAccess)
        => Scan(owner, field, childType, elementAccess).Should().BeEmpty();

    private static IReadOnlyList<string> Scan(Type owner, string field, Type childType, bool elementAccess)
    {
        var holder = owner.GetField(field, BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)
            ?? owner.BaseType!.GetField(field, BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)!;
        return ForwardCallScan.FindForwardCalls(owner, holder, childType, elementAccess);
    }
}

/// <summary>
/// Base of the scan toys: registers the fields of the derived toy (C# runs a derived class's field initialisers before
/// its base constructor, so they are set by then).
/// </summary>
internal abstract class ScanToy : nn.Module<Tensor, Tensor>
{
    protected ScanToy(string name)
        : base(name)
        => RegisterComponents();

    /// <summary>A small 1×1 convolution (its weights never matter: the scan reads IL only).</summary>
    protected static Conv2d Conv() => nn.Conv2d(2, 2, 1);
}

/// <summary>this.b.call(this.a.forward(x)): a bypasses hooks, b does not.</summary>
internal sealed class ScanChainToy() : ScanToy(nameof(ScanChainToy))
{
    private readonly Conv2d a = Conv();
    private readonly Conv2d b = Conv();

    public override Tensor forward(Tensor x) => this.b.call(this.a.forward(x));
}

/// <summary>forward calls whose arguments are themselves calls on sibling fields.</summary>
internal sealed class ScanNestedToy() : ScanToy(nameof(ScanNestedToy))
{
    private readonly Conv2d a = Conv();
    private readonly Conv2d b = Conv();
    private readonly Conv2d c = Conv();
    private readonly Conv2d d = Conv();

    public override Tensor forward(Tensor x)
    {
        var y = a.forward(b.call(x) + c.call(x));
        return b.call(d.forward(y) * c.call(y)) + a.call(y).mean();
    }
}

/// <summary>A child held in a field typed nn.Module&lt;Tensor, Tensor&gt;.</summary>
internal sealed class ScanModuleFieldToy() : ScanToy(nameof(ScanModuleFieldToy))
{
    private readonly nn.Module<Tensor, Tensor> body = Conv();

    public override Tensor forward(Tensor x) => body.forward(x);
}

/// <summary>Children in ModuleLists, indexed in loops: one list with forward, one with call.</summary>
internal sealed class ScanListToy() : ScanToy(nameof(ScanListToy))
{
    private readonly ModuleList<Conv2d> viaForward = new(Conv(), Conv());
    private readonly ModuleList<Conv2d> viaCall = new(Conv(), Conv());

    public override Tensor forward(Tensor x)
    {
        for (var i = 0; i < viaForward.Count; i++)
        {
            x = viaForward[i].forward(x);
        }

        for (var i = 0; i < viaCall.Count; i++)
        {
            x = viaCall[i].call(x);
        }

        return x;
    }
}

/// <summary>forward calls in a private helper, a local function, a lambda and an iterator of the parent.</summary>
internal sealed class ScanHelperToy() : ScanToy(nameof(ScanHelperToy))
{
    private readonly Conv2d a = Conv();
    private readonly Conv2d b = Conv();
    private readonly Conv2d c = Conv();
    private readonly Conv2d d = Conv();
    private readonly Conv2d e = Conv();

    public override Tensor forward(Tensor x)
    {
        Func<Tensor, Tensor> last = t => d.forward(t);
        return last(Local(Helper(x))) + Levels(x).Sum(level => level.mean().item<float>());

        Tensor Local(Tensor t) => c.call(b.forward(t) + x);
    }

    private Tensor Helper(Tensor x) => a.forward(x);

    private IEnumerable<Tensor> Levels(Tensor x)
    {
        yield return x;
        yield return e.forward(x);
    }
}

/// <summary>A non-TorchSharp base class whose helper calls its stem with forward.</summary>
internal abstract class ScanBaseToy(string name) : ScanToy(name)
{
    /// <summary>A protected field, as detector base classes often have.</summary>
    protected readonly Conv2d stem = Conv();

    protected Tensor Stem(Tensor x) => stem.forward(x);
}

/// <summary>Derives from <see cref="ScanBaseToy"/>; calls its own head with call.</summary>
internal sealed class ScanDerivedToy() : ScanBaseToy(nameof(ScanDerivedToy))
{
    private readonly Conv2d head = Conv();

    public override Tensor forward(Tensor x) => head.call(Stem(x));
}

/// <summary>if/else, a loop with a conditional expression and a dispose scope around the calls.</summary>
internal sealed class ScanBranchToy() : ScanToy(nameof(ScanBranchToy))
{
    private readonly Conv2d a = Conv();
    private readonly Conv2d b = Conv();
    private readonly Conv2d c = Conv();
    private readonly Conv2d d = Conv();

    public bool Flag { get; set; }

    public int Repeats { get; set; } = 3;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor y;
        if (Flag)
        {
            y = a.forward(x);
        }
        else
        {
            y = b.call(x);
        }

        for (var i = 0; i < Repeats; i++)
        {
            y = i % 2 == 0 ? c.call(y) : d.forward(y);
            while (y.numel() > 1_000_000)
            {
                y = y / 2;
            }
        }

        switch (Repeats)
        {
            case 0:
                y = b.call(y);
                break;
            case 1:
                y = c.call(y);
                break;
        }

        return y.MoveToOuterDisposeScope();
    }
}

/// <summary>(Flag ? a : b).forward(x): the receiver comes from two branches.</summary>
internal sealed class ScanTernaryReceiverToy() : ScanToy(nameof(ScanTernaryReceiverToy))
{
    private readonly Conv2d a = Conv();
    private readonly Conv2d b = Conv();

    public bool Flag { get; set; }

    public override Tensor forward(Tensor x) => (Flag ? a : b).forward(x);
}

/// <summary>var conv = this.a; conv.forward(x).</summary>
internal sealed class ScanLocalToy() : ScanToy(nameof(ScanLocalToy))
{
    private readonly Conv2d a = Conv();

    public override Tensor forward(Tensor x)
    {
        var conv = this.a;
        return conv.forward(x);
    }
}

/// <summary>A local that may hold a or b when forward is called on it.</summary>
internal sealed class ScanReassignedLocalToy() : ScanToy(nameof(ScanReassignedLocalToy))
{
    private readonly Conv2d a = Conv();
    private readonly Conv2d b = Conv();

    public bool Flag { get; set; }

    public override Tensor forward(Tensor x)
    {
        var conv = a;
        if (Flag)
        {
            conv = b;
        }

        return conv.forward(x);
    }
}

/// <summary>A generic parent: tokens in its IL resolve only with its type arguments.</summary>
/// <typeparam name="T">Unused; makes the type generic.</typeparam>
internal sealed class ScanGenericToy<T>() : ScanToy(nameof(ScanGenericToy<T>))
{
    private readonly Conv2d a = Conv();
    private readonly List<T> tags = [];

    public override Tensor forward(Tensor x) => tags.Count > 0 ? x : a.forward(x);
}
