using Switchboard.Bitrix24.Wire;

namespace Switchboard.Receiving;

/// <summary>Bounds on incoming event bodies.</summary>
public sealed class ReceivingOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Switchboard:Receiving";

    /// <summary>Largest body accepted; larger gets 413 without being read whole. Real events are under 2 KiB.</summary>
    public int MaxBodyBytes { get; set; } = 64 * 1024;

    /// <summary>Most fields in a body.</summary>
    public int MaxKeys { get; set; } = 1000;

    /// <summary>Deepest key nesting (<c>data[FIELDS][ID]</c> is 3).</summary>
    public int MaxDepth { get; set; } = 8;

    /// <summary>Longest field name, in bytes.</summary>
    public int MaxKeyLength { get; set; } = 256;

    /// <summary>Longest value, in bytes.</summary>
    public int MaxValueLength { get; set; } = 32 * 1024;

    /// <summary>The parser's limits.</summary>
    public FormLimits ToLimits() => new() { MaxKeys = MaxKeys, MaxDepth = MaxDepth, MaxKeyLength = MaxKeyLength, MaxValueLength = MaxValueLength };
}
