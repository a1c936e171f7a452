using Switchboard.Asterisk.Wire;

namespace Switchboard.Asterisk.Session;

/// <summary>
/// An action to send: its name and fields in order (repeated keys allowed: <c>Variable</c>). The
/// connection adds <c>ActionID</c> unless one is set here, in which case it must be unique among the
/// actions in flight on the connection.
/// </summary>
public sealed class AmiAction(string name)
{
    /// <summary>The <c>Action:</c> name.</summary>
    public string Name { get; } = name;

    /// <summary>The caller's ActionID, or null for one the connection picks.</summary>
    public string? ActionId { get; init; }

    /// <summary>The fields after <c>Action</c> and <c>ActionID</c>.</summary>
    public IList<KeyValuePair<string, string>> Fields { get; } = [];

    /// <summary>Adds a field (a repeat of a key is kept).</summary>
    public AmiAction Add(string key, string value)
    {
        Fields.Add(new(key, value));
        return this;
    }
}

/// <summary>
/// The answer to one action: the response packet, and for an event-list action (<c>EventList: start</c>)
/// every item event up to the <c>…Complete</c> one, which is <see cref="ListComplete"/>.
/// </summary>
/// <param name="Message">The response packet.</param>
/// <param name="Items">The list's item events (empty for a plain action).</param>
/// <param name="ListComplete">The closing event of a list, or null.</param>
public sealed record AmiResponse(AmiMessage Message, IReadOnlyList<Events.AmiEvent> Items, AmiMessage? ListComplete)
{
    /// <summary><c>Response: Success</c> (or <c>Follows</c>, <c>Goodbye</c>).</summary>
    public bool IsSuccess => Message.Response is { } r && !r.Equals("Error", StringComparison.OrdinalIgnoreCase);

    /// <summary><c>Message:</c>.</summary>
    public string? Text => Message["Message"];

    /// <summary>The <c>Output:</c> lines of a <c>Command</c> action, in order (the raw text of a pre-14 <c>Response: Follows</c> answer reads the same way).</summary>
    public IReadOnlyList<string> Output => Message.GetAll("Output");
}
