using System.Collections.Concurrent;

namespace Switchboard.Bitrix24.Limits;

/// <summary>One <see cref="LeakyBucket"/> per portal (the portal counts per portal and source IP, so all
/// calls from this process to one portal share it).</summary>
internal sealed class PortalRateLimiter(RateLimit defaults, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, LeakyBucket> _buckets = new(StringComparer.Ordinal);

    public async ValueTask WaitAsync(string memberId, RateLimit? portalLimit, CancellationToken cancellationToken)
    {
        var limit = portalLimit ?? defaults;
        var bucket = _buckets.AddOrUpdate(memberId,
            _ => new LeakyBucket(limit, time),
            (_, b) => b.Limit == limit ? b : new LeakyBucket(limit, time));
        var wait = bucket.Reserve();
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, time, cancellationToken).ConfigureAwait(false);
        }
    }
}
