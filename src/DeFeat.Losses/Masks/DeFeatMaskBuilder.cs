namespace DeFeat.Losses.Masks;

/// <summary>The official DeFeat rule: each box marks only the level chosen by its size (STUB: being implemented).</summary>
public sealed class DeFeatMaskBuilder : ObjectMaskBuilder
{
}
