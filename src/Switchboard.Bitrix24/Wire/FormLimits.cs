namespace Switchboard.Bitrix24.Wire;

/// <summary>
/// Bounds applied while decoding an event body. The defaults are generous for every real Bitrix24
/// event (the deepest documented key is <c>data[FIELDS][ID]</c>, a few dozen keys at most) and
/// tight enough that a hostile body cannot make the parser do much work.
/// </summary>
public sealed record FormLimits
{
    /// <summary>Defaults: 1,000 keys (PHP's <c>max_input_vars</c>), depth 8, keys up to 256 bytes, values up to 32 KiB.</summary>
    public static FormLimits Default { get; } = new();

    /// <summary>Most value nodes a body may have.</summary>
    public int MaxKeys { get; init; } = 1000;

    /// <summary>Most segments in one key: <c>event</c> is 1, <c>data[FIELDS][ID]</c> is 3.</summary>
    public int MaxDepth { get; init; } = 8;

    /// <summary>Longest decoded key, in UTF-8 bytes.</summary>
    public int MaxKeyLength { get; init; } = 256;

    /// <summary>Longest decoded value, in UTF-8 bytes.</summary>
    public int MaxValueLength { get; init; } = 32 * 1024;
}
