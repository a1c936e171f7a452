using System.Buffers;
using System.Text;

namespace Switchboard.Asterisk.Wire;

/// <summary>
/// One AMI packet: <c>Key: Value</c> lines ended by a blank line, in the order they came. Keys repeat
/// (<c>Variable</c>, <c>ChanVariable</c>, <c>Output</c>) and every value is kept
/// (https://docs.asterisk.org/Configuration/Interfaces/Asterisk-Manager-Interface-AMI/AMI-v2-Specification/).
/// Keys compare case-insensitively, as Asterisk reads them.
/// </summary>
public sealed class AmiMessage : IReadOnlyList<KeyValuePair<string, string>>
{
    private static readonly byte[] Separator = ": "u8.ToArray();
    private static readonly byte[] LineEnd = "\r\n"u8.ToArray();

    private readonly KeyValuePair<string, string>[] _fields;

    /// <summary>A packet of these fields, in this order.</summary>
    /// <exception cref="ArgumentException">A key is empty or holds a colon, or a key or value holds CR or LF (it would end the line and inject fields).</exception>
    public AmiMessage(IEnumerable<KeyValuePair<string, string>> fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        _fields = [.. fields];
        foreach (var (key, value) in _fields)
        {
            ArgumentNullException.ThrowIfNull(key, nameof(fields));
            ArgumentNullException.ThrowIfNull(value, nameof(fields));
            if (key.Length == 0 || key.AsSpan().IndexOfAny(":\r\n") >= 0)
            {
                throw new ArgumentException("An AMI key must be non-empty and hold no colon, CR or LF.", nameof(fields));
            }

            if (value.AsSpan().IndexOfAny('\r', '\n') >= 0)
            {
                throw new ArgumentException($"The value of '{key}' holds CR or LF.", nameof(fields));
            }
        }
    }

    /// <summary>
    /// A packet the frame reader parsed: keys are non-empty and colon-free and no value holds LF by
    /// construction, so the checks are skipped. A lone CR inside a value is kept as Asterisk sent it.
    /// </summary>
    internal AmiMessage(KeyValuePair<string, string>[] parsed) => _fields = parsed;

    /// <summary>The first value of <paramref name="key"/>, or null when absent.</summary>
    public string? this[string key]
    {
        get
        {
            foreach (var field in _fields)
            {
                if (string.Equals(field.Key, key, StringComparison.OrdinalIgnoreCase))
                {
                    return field.Value;
                }
            }

            return null;
        }
    }

    /// <inheritdoc/>
    public KeyValuePair<string, string> this[int index] => _fields[index];

    /// <inheritdoc/>
    public int Count => _fields.Length;

    /// <summary>Every value of <paramref name="key"/>, in order; empty when absent.</summary>
    public IReadOnlyList<string> GetAll(string key)
    {
        List<string>? values = null;
        foreach (var field in _fields)
        {
            if (string.Equals(field.Key, key, StringComparison.OrdinalIgnoreCase))
            {
                (values ??= []).Add(field.Value);
            }
        }

        return values ?? (IReadOnlyList<string>)[];
    }

    /// <summary><c>Event:</c>, or null for a response.</summary>
    public string? EventName => this["Event"];

    /// <summary><c>Response:</c>, or null for an event.</summary>
    public string? Response => this["Response"];

    /// <summary><c>ActionID:</c>.</summary>
    public string? ActionId => this["ActionID"];

    /// <summary>Writes the packet as Asterisk does: each field as <c>Key: Value\r\n</c>, then <c>\r\n</c>.</summary>
    public void WriteTo(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        foreach (var (key, value) in _fields)
        {
            WriteUtf8(output, key);
            output.Write(Separator);
            WriteUtf8(output, value);
            output.Write(LineEnd);
        }

        output.Write(LineEnd);
    }

    /// <inheritdoc/>
    public IEnumerator<KeyValuePair<string, string>> GetEnumerator() => ((IEnumerable<KeyValuePair<string, string>>)_fields).GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The packet as text for diagnostics, with <c>Secret</c> and <c>Key</c> values masked.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        foreach (var (key, value) in _fields)
        {
            var masked = key.Equals("Secret", StringComparison.OrdinalIgnoreCase) || key.Equals("Key", StringComparison.OrdinalIgnoreCase);
            text.Append(key).Append(": ").Append(masked ? "***" : value).Append("\r\n");
        }

        return text.ToString();
    }

    private static void WriteUtf8(IBufferWriter<byte> output, string text)
    {
        var span = output.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        var written = Encoding.UTF8.GetBytes(text, span);
        output.Advance(written);
    }
}
