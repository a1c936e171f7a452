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

    /// <summary>
    /// Kestrel's minimum body data rate, in bytes per second, after <see cref="BodyGracePeriod"/>: a
    /// body that arrives slower (or stops) is answered 408 and its connection closed, so a sender
    /// cannot hold a connection and a buffer open by trickling a body. Real events are a few KiB, sent
    /// at once.
    /// </summary>
    public double MinBodyBytesPerSecond { get; set; } = 1024;

    /// <summary>How long a body may take before <see cref="MinBodyBytesPerSecond"/> applies (more than 1 s, Kestrel's heartbeat).</summary>
    public TimeSpan BodyGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Kestrel's RequestHeadersTimeout: the request line and headers must arrive within this, or the connection is closed.</summary>
    public TimeSpan HeadersTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Refusals (4xx, 503) are logged as counts per this interval plus a sample; the first of each kind in full.</summary>
    public TimeSpan RefusalLogInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The parser's limits.</summary>
    public FormLimits ToLimits() => new() { MaxKeys = MaxKeys, MaxDepth = MaxDepth, MaxKeyLength = MaxKeyLength, MaxValueLength = MaxValueLength };
}
