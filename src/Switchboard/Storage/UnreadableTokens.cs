using System.Collections.Concurrent;

namespace Switchboard.Storage;

/// <summary>
/// The portals whose stored tokens this instance's key ring cannot decrypt, as last tried: what
/// <c>/readyz</c> lists, and what makes the outbox defer a portal's work instead of failing it.
/// </summary>
public sealed class UnreadableTokens
{
    private readonly ConcurrentDictionary<string, byte> _memberIds = new(StringComparer.Ordinal);

    /// <summary>The portals, by <c>member_id</c>, in no particular order.</summary>
    public IReadOnlyCollection<string> MemberIds => [.. _memberIds.Keys];

    /// <summary>Whether the portal's tokens were unreadable when last tried.</summary>
    public bool Contains(string memberId) => _memberIds.ContainsKey(memberId);

    /// <summary>Records a failure; true the first time (until <see cref="Clear"/>), so it is logged once.</summary>
    public bool Mark(string memberId) => _memberIds.TryAdd(memberId, 0);

    /// <summary>Records a success; true when the portal was marked.</summary>
    public bool Clear(string memberId) => _memberIds.TryRemove(memberId, out _);
}
