using DeFeat.Hooks.Interception;
using DeFeat.Hooks.Recording;
using DeFeat.Hooks.Tests.Support;
using DeFeat.Hooks.Tests.Toys.MlNetStyle;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DeFeat.Hooks.Tests.AsWritten;

/// <summary>Items of TorchSharp's containers (Sequential, ModuleDict, ModuleList) tapped by path, the model unedited.</summary>
public class ContainerItemTapTests
{
    [Fact]
    public void Sequential_dictionary_and_list_items_are_recorded_and_restored()
    {
        using var scope = torch.NewDisposeScope();
        using var model = new ContainerToy();
        var before = ModelSnapshot.Of(model);
        using var sequentialItem = new FeatureTap(model, "body.act");
        using var dictionaryItem = new FeatureTap(model, "heads.cls");
        using var listItem = new FeatureTap(model, "towers.0");

        model.forward(torch.randn(1, 2, 4, 4));

        (sequentialItem.Mode, dictionaryItem.Mode, listItem.Mode).Should().Be((TapMode.Hook, TapMode.StandIn, TapMode.StandIn));
        sequentialItem.Features[0].shape.Should().Equal(1, 3, 4, 4);
        dictionaryItem.Features[0].shape.Should().Equal(1, 5, 4, 4);
        listItem.Features[0].shape.Should().Equal(1, 3, 4, 4);
        ModelSnapshot.Of(model).Differences(before).Should().NotBeEmpty("the dictionary and list items hold stand-ins while tapped");

        sequentialItem.Dispose();
        dictionaryItem.Dispose();
        listItem.Dispose();
        ModelSnapshot.Of(model).Differences(before).Should().BeEmpty();
        model.modules().Sum(HookInspection.HookCount).Should().Be(0);
    }

    [Fact]
    public void A_sequential_item_read_before_the_model_ran_says_that_its_hook_records_once_the_model_runs()
    {
        using var model = new ContainerToy();
        using var tap = new FeatureTap(model, "body.conv");

        var read = () => tap.Features;

        tap.Mode.Should().Be(TapMode.Hook);
        read.Should().Throw<InvalidOperationException>().WithMessage(
            "The feature tap at path 'body.conv' (TapMode.Hook) recorded nothing*Its parent is a Sequential, which invokes its items with .call(...): "
            + "run the model before reading.");
    }

    [Fact]
    public void Disposing_the_model_while_a_stand_in_is_in_place_frees_nothing_twice()
    {
        var model = new ContainerToy();
        var tap = new FeatureTap(model, "heads.cls");
        using (torch.NewDisposeScope())
        {
            model.forward(torch.randn(1, 2, 4, 4));
        }

        model.Dispose();
        tap.Dispose();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        tap.HasCapture.Should().BeFalse();
    }

    [Fact]
    public void A_submodule_held_by_no_field_falls_back_to_a_hook_and_says_what_to_change_when_forward_bypasses_it()
    {
        using var scope = torch.NewDisposeScope();
        using var model = new RegistryOnlyToy();
        using var tap = new FeatureTap(model, "inner");

        model.forward(torch.randn(1, 2, 4, 4));

        tap.Mode.Should().Be(TapMode.Hook);
        var read = () => tap.Features;
        read.Should().Throw<InvalidOperationException>().WithMessage("*No field or list item of ContainerItemTapTests.RegistryOnlyToy holds it*.call(...) instead of .forward(...) in ContainerItemTapTests.RegistryOnlyToy*");
    }

    /// <summary>Registers its child by name only and looks it up on every forward, invoking it with .forward(...).</summary>
    private sealed class RegistryOnlyToy : nn.Module<Tensor, Tensor>
    {
        public RegistryOnlyToy()
            : base(nameof(RegistryOnlyToy))
            => register_module("inner", new ConvModule(2, 3, 3));

        public override Tensor forward(Tensor input)
            => ((ConvModule)named_children().Single(child => child.name == "inner").module).forward(input);
    }

    /// <summary>Sequential → ModuleList of towers (items invoked with .forward) → ModuleDict of heads (items invoked with .forward).</summary>
    private sealed class ContainerToy : nn.Module<Tensor, Tensor>
    {
#pragma warning disable IDE1006 // field names are the module paths
        private readonly Sequential body;
        private readonly ModuleList<ConvModule> towers;
        private readonly ModuleDict<ConvModule> heads;
#pragma warning restore IDE1006

        public ContainerToy()
            : base(nameof(ContainerToy))
        {
            body = nn.Sequential(("conv", nn.Conv2d(2, 3, 3, padding: 1)), ("act", nn.ReLU()));
            towers = new ModuleList<ConvModule>(new ConvModule(3, 3, 3));
            heads = new ModuleDict<ConvModule>();
            heads.Add("cls", new ConvModule(3, 5, 1, useRelu: false));
            RegisterComponents();
        }

        public override Tensor forward(Tensor input)
        {
            var x = body.forward(input);
            x = towers[0].forward(x);
            return heads["cls"].forward(x);
        }
    }
}
