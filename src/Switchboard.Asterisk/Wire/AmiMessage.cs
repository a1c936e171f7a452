namespace Switchboard.Asterisk.Wire;

/// <summary>
/// One AMI packet: <c>Key: Value</c> lines ended by a blank line, in the order they came. Keys repeat
/// (<c>Variable</c>, <c>ChanVariable</c>, <c>Output</c>) and every value is kept
/// (https://docs.asterisk.org/Configuration/Interfaces/Asterisk-Manager-Interface-AMI/AMI-v2-Specification/).
/// Keys compare case-insensitively, as Asterisk reads them.
/// </summary>
public sealed class AmiMessage : IReadOnlyList<KeyValuePair<string, string>>
{
    /// <summary>A packet of these fields, in this order.</summary>
    public AmiMessage(IEnumerable<KeyValuePair<string, string>> fields) => throw new NotImplementedException();

    /// <summary>The first value of <paramref name="key"/>, or null when absent.</summary>
    public string? this[string key] => throw new NotImplementedException();

    /// <inheritdoc/>
    public KeyValuePair<string, string> this[int index] => throw new NotImplementedException();

    /// <inheritdoc/>
    public int Count => throw new NotImplementedException();

    /// <summary>Every value of <paramref name="key"/>, in order; empty when absent.</summary>
    public IReadOnlyList<string> GetAll(string key) => throw new NotImplementedException();

    /// <summary><c>Event:</c>, or null for a response.</summary>
    public string? EventName => this["Event"];

    /// <summary><c>Response:</c>, or null for an event.</summary>
    public string? Response => this["Response"];

    /// <summary><c>ActionID:</c>.</summary>
    public string? ActionId => this["ActionID"];

    /// <summary>Writes the packet as Asterisk does: each field as <c>Key: Value\r\n</c>, then <c>\r\n</c>.</summary>
    public void WriteTo(System.Buffers.IBufferWriter<byte> output) => throw new NotImplementedException();

    /// <inheritdoc/>
    public IEnumerator<KeyValuePair<string, string>> GetEnumerator() => throw new NotImplementedException();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The packet as text for diagnostics, with <c>Secret</c> and <c>Key</c> values masked.</summary>
    public override string ToString() => throw new NotImplementedException();
}
