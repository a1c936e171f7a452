using System.Collections.Concurrent;
using Switchboard.Journal;

namespace Switchboard.Portals;

/// <summary>
/// Looks portals up for verification, with a short cache of installed portals so that the hot path
/// rarely touches the store. The cache can only make Switchboard accept on stale data, never reject:
/// every rejection is decided on a fresh read, and every acceptance is re-checked inside the append
/// transaction (<see cref="PortalGuard"/>), so a stale entry can delay nothing and let nothing in.
/// </summary>
public sealed class PortalDirectory(IJournalStore store, TimeProvider time)
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(5);
    private readonly ConcurrentDictionary<string, (Portal Portal, DateTimeOffset Until)> _cache = new(StringComparer.Ordinal);

    /// <summary>The cached portal if fresh; otherwise read from the store.</summary>
    public async ValueTask<Portal?> FindAsync(string memberId, bool fresh, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (!fresh && _cache.TryGetValue(memberId, out var hit) && hit.Until > now)
        {
            return hit.Portal;
        }

        var portal = await store.FindPortalAsync(memberId, cancellationToken).ConfigureAwait(false);
        if (portal is { State: PortalState.Installed })
        {
            // Bound the cache: member ids come from requests, though only installed ones are kept.
            if (_cache.Count > 10_000)
            {
                _cache.Clear();
            }

            _cache[memberId] = (portal, now + Lifetime);
        }
        else
        {
            _cache.TryRemove(memberId, out _);
        }

        return portal;
    }

    /// <summary>Drops a portal after this instance changed it.</summary>
    public void Invalidate(string memberId) => _cache.TryRemove(memberId, out _);
}
