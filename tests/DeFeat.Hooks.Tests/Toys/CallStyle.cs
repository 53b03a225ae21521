namespace DeFeat.Hooks.Tests.Toys;

/// <summary>How a toy detector invokes its submodules: TorchSharp's call() (hooks run) or forward() (hooks do not).</summary>
public enum CallStyle
{
    Call,
    Forward,
}
