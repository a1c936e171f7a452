using System.Buffers;
using System.IO.Pipelines;
using System.Text;

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
/// A pre-14 <c>Command</c> answer (<c>Response: Follows</c>, raw text, <c>--END COMMAND--</c>) is read
/// into <c>Output</c> fields like AMI 11's.
/// </summary>
/// <remarks>
/// Each complete line is consumed from the pipe as soon as it is parsed, so the pipe never holds more
/// than one unfinished line (at most <see cref="AmiLimits.MaxLineBytes"/> plus one read) and the packet
/// being built is bounded by <see cref="AmiLimits.MaxFields"/> and <see cref="AmiLimits.MaxPacketBytes"/>.
/// Not thread-safe: one reader loop calls it.
/// </remarks>
public sealed class AmiFrameReader
{
    private readonly PipeReader _reader;
    private readonly AmiLimits _limits;
    private readonly List<KeyValuePair<string, string>> _fields = [];
    private long _packetBytes;
    private bool _rawOutput;

    /// <summary>A reader of <paramref name="reader"/>, within <paramref name="limits"/> (the defaults when null).</summary>
    public AmiFrameReader(PipeReader reader, AmiLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(reader);
        _reader = reader;
        _limits = limits ?? AmiLimits.Default;
    }

    /// <summary>The first line (<c>Asterisk Call Manager/11.0.0</c>); null when the stream ends first.</summary>
    /// <exception cref="AmiProtocolException">The line is longer than <see cref="AmiLimits.MaxLineBytes"/>.</exception>
    public async ValueTask<string?> ReadBannerAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            var consumed = buffer.Start;
            string? banner = null;
            try
            {
                if (TryReadLine(buffer, out var line, out consumed))
                {
                    banner = Decode(line);
                }
                else if (result.IsCompleted)
                {
                    return null;
                }
            }
            finally
            {
                // Examined up to the end only when no line was found: what follows the banner may already be here.
                _reader.AdvanceTo(consumed, banner is null ? buffer.End : consumed);
            }

            if (banner is not null)
            {
                return banner;
            }
        }
    }

    /// <summary>The next packet; null at a clean end of stream. Blank lines between packets are skipped.</summary>
    /// <exception cref="AmiProtocolException">The peer went over <see cref="AmiLimits"/> or the stream ended inside a packet.</exception>
    public async ValueTask<AmiMessage?> ReadMessageAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            var consumed = buffer.Start;
            AmiMessage? message = null;
            try
            {
                message = ParseLines(buffer, out consumed);
                if (message is null && result.IsCompleted)
                {
                    if (_fields.Count > 0 || !buffer.Slice(consumed).IsEmpty)
                    {
                        throw new AmiProtocolException("The stream ended inside an AMI packet.");
                    }

                    return null;
                }
            }
            finally
            {
                // A returned packet may be followed by whole packets already read: mark only what was
                // parsed as examined, or the next ReadAsync would wait for new bytes before looking at them.
                _reader.AdvanceTo(consumed, message is null ? buffer.End : consumed);
            }

            if (message is not null)
            {
                return message;
            }
        }
    }

    private AmiMessage? ParseLines(ReadOnlySequence<byte> buffer, out SequencePosition consumed)
    {
        consumed = buffer.Start;
        var rest = buffer;
        while (TryReadLine(rest, out var line, out var next))
        {
            _packetBytes += rest.Slice(0, next).Length;
            rest = rest.Slice(next);
            consumed = next;

            if (_rawOutput)
            {
                CheckPacketLimits();
                ReadRawOutputLine(line);
                continue;
            }

            if (line.IsEmpty)
            {
                if (_fields.Count == 0)
                {
                    _packetBytes = 0;
                    continue;
                }

                var message = new AmiMessage([.. _fields]);
                _fields.Clear();
                _packetBytes = 0;
                return message;
            }

            CheckPacketLimits();
            var field = ParseField(line);
            _rawOutput = _fields.Count == 0 && IsFollows(field);
            _fields.Add(field);
        }

        if (_packetBytes + rest.Length > _limits.MaxPacketBytes + 2L)
        {
            throw new AmiProtocolException($"An AMI packet is longer than {_limits.MaxPacketBytes} bytes.");
        }

        return null;
    }

    private void CheckPacketLimits()
    {
        if (_packetBytes > _limits.MaxPacketBytes)
        {
            throw new AmiProtocolException($"An AMI packet is longer than {_limits.MaxPacketBytes} bytes.");
        }

        if (_fields.Count >= _limits.MaxFields)
        {
            throw new AmiProtocolException($"An AMI packet has more than {_limits.MaxFields} fields.");
        }
    }

    private static bool IsFollows(KeyValuePair<string, string> field) =>
        field.Key.Equals("Response", StringComparison.OrdinalIgnoreCase) && field.Value.Equals("Follows", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// A line of a <c>Command</c> answer as AMI before Asterisk 14 sends it (AMI 2.x, main/manager.c
    /// action_command): <c>Response: Follows</c>, <c>Privilege</c> and <c>ActionID</c>, then the CLI's raw
    /// text, blank lines included, ended by <c>--END COMMAND--</c> (glued to the last line when the text has
    /// no final newline). Each raw line becomes an <c>Output</c> field, as AMI 11 sends them.
    /// </summary>
    private void ReadRawOutputLine(ReadOnlySequence<byte> line)
    {
        const string End = "--END COMMAND--";
        var text = Decode(line);
        if (text.EndsWith(End, StringComparison.Ordinal))
        {
            _rawOutput = false;
            text = text[..^End.Length];
            if (text.Length == 0)
            {
                return;
            }
        }
        else if (!_fields.Exists(f => f.Key == "Output") && !line.IsEmpty && TryHeader(line) is { } header)
        {
            _fields.Add(header);
            return;
        }

        _fields.Add(new("Output", text));
    }

    private static KeyValuePair<string, string>? TryHeader(ReadOnlySequence<byte> line)
    {
        var reader = new SequenceReader<byte>(line);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> _, (byte)':'))
        {
            return null;
        }

        var field = ParseField(line);
        return field.Key.Equals("Privilege", StringComparison.OrdinalIgnoreCase) || field.Key.Equals("ActionID", StringComparison.OrdinalIgnoreCase)
            ? field
            : null;
    }

    /// <summary>
    /// One line without its LF or CRLF. Throws when the line (complete or not yet) is over the limit, so an
    /// endless line fails after <see cref="AmiLimits.MaxLineBytes"/> bytes instead of growing the pipe.
    /// </summary>
    private bool TryReadLine(ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> line, out SequencePosition next)
    {
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadTo(out line, (byte)'\n', advancePastDelimiter: true))
        {
            // Room for a CR that may still be followed by its LF.
            if (buffer.Length > _limits.MaxLineBytes + 1L)
            {
                throw new AmiProtocolException($"An AMI line is longer than {_limits.MaxLineBytes} bytes.");
            }

            next = buffer.Start;
            return false;
        }

        if (!line.IsEmpty && EndsWithCr(line))
        {
            line = line.Slice(0, line.Length - 1);
        }

        if (line.Length > _limits.MaxLineBytes)
        {
            throw new AmiProtocolException($"An AMI line is longer than {_limits.MaxLineBytes} bytes.");
        }

        next = reader.Position;
        return true;
    }

    private static bool EndsWithCr(ReadOnlySequence<byte> line)
    {
        var last = line.Slice(line.Length - 1);
        return last.FirstSpan[0] == (byte)'\r';
    }

    /// <summary>
    /// <c>Key: Value</c>. Like Asterisk's own header lookup (main/manager.c, astman_get_header), spaces after
    /// the colon are skipped, so <c>Key:Value</c> reads the same; the rest of the value is kept as sent.
    /// </summary>
    private static KeyValuePair<string, string> ParseField(ReadOnlySequence<byte> line)
    {
        if (line.IsSingleSegment)
        {
            return ParseField(line.FirstSpan);
        }

        // A line split across pipe segments; it is at most MaxLineBytes long.
        var rented = ArrayPool<byte>.Shared.Rent(checked((int)line.Length));
        try
        {
            line.CopyTo(rented);
            return ParseField(rented.AsSpan(0, (int)line.Length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static KeyValuePair<string, string> ParseField(ReadOnlySpan<byte> line)
    {
        var colon = line.IndexOf((byte)':');
        var key = colon < 0 ? default : line[..colon].Trim((byte)' ');
        if (key.IsEmpty)
        {
            throw new AmiProtocolException("An AMI line is not 'Key: Value'.");
        }

        var value = line[(colon + 1)..].TrimStart((byte)' ');
        return new(Encoding.UTF8.GetString(key), value.IsEmpty ? string.Empty : Encoding.UTF8.GetString(value));
    }

    private static string Decode(ReadOnlySequence<byte> line) => Encoding.UTF8.GetString(line);
}
