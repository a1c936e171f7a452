using System.IO.Pipelines;

namespace Switchboard.Asterisk.Wire;

/// <summary>
/// Bounds on what a peer may send, so a broken or hostile peer cannot make the reader allocate without
/// limit. Asterisk itself discards input lines over 1024 bytes and takes at most 128 headers per action
/// (main/manager.c); its own output lines can be longer (post-substitution AppData, Output lines).
/// </summary>
/// <param name="MaxLineBytes">Longest line, CRLF excluded.</param>
/// <param name="MaxFields">Most fields in one packet.</param>
/// <param name="MaxPacketBytes">Most bytes in one packet.</param>
public sealed record AmiLimits(int MaxLineBytes = 8192, int MaxFields = 512, int MaxPacketBytes = 256 * 1024)
{
    /// <summary>The defaults.</summary>
    public static AmiLimits Default { get; } = new();
}

/// <summary>The peer broke the protocol (a line or packet over the limits, no banner, a line that is not <c>Key: Value</c> where one is required).</summary>
public sealed class AmiProtocolException(string message) : IOException(message);

/// <summary>
/// Reads AMI from a <see cref="PipeReader"/>: the one-line banner, then packets. Accepts CRLF or LF line
/// ends, as Asterisk does. Used by the client (responses and events) and by the emulator (actions).
/// </summary>
public sealed class AmiFrameReader
{
    /// <summary>A reader of <paramref name="reader"/>, within <paramref name="limits"/> (the defaults when null).</summary>
    public AmiFrameReader(PipeReader reader, AmiLimits? limits = null) => throw new NotImplementedException();

    /// <summary>The first line (<c>Asterisk Call Manager/11.0.0</c>); null when the stream ends first.</summary>
    public ValueTask<string?> ReadBannerAsync(CancellationToken cancellationToken) => throw new NotImplementedException();

    /// <summary>The next packet; null at a clean end of stream. Blank lines between packets are skipped.</summary>
    /// <exception cref="AmiProtocolException">The peer went over <see cref="AmiLimits"/> or the stream ended inside a packet.</exception>
    public ValueTask<AmiMessage?> ReadMessageAsync(CancellationToken cancellationToken) => throw new NotImplementedException();
}
