namespace Switchboard.Bitrix24.Limits;

/// <summary>
/// A portal's request bucket shared by several processes (Switchboard instances on one database): the
/// in-process bucket keeps one process within the limit, this keeps all of them within it together.
/// Called after the in-process bucket let a request through, right before it is sent.
/// </summary>
public interface IPortalRateGate
{
    /// <summary>Returns once one more request to <paramref name="memberId"/> fits <paramref name="limit"/>
    /// across every process sharing the gate, and counts it.</summary>
    ValueTask WaitAsync(string memberId, RateLimit limit, CancellationToken cancellationToken);
}

/// <summary>A leaky bucket's drain rate and size.</summary>
/// <param name="RequestsPerSecond">Drain per second (2; Enterprise 5).</param>
/// <param name="Burst">Bucket size (50; Enterprise 250).</param>
public readonly record struct RateLimit(double RequestsPerSecond, int Burst);

/// <summary>
/// The client side of the portal's leaky bucket, modelled the way the portal keeps it (EN-docs limits.md:
/// each request adds 1 to a counter, the counter drains by Y per second, over X the request fails with
/// 503 QUERY_LIMIT_EXCEEDED). A request is counted at the moment it is let through, never reserved
/// ahead: a waiter that wakes late (a GC pause, a busy thread pool) then simply goes later, instead of
/// going together with the ones behind it — the portal's counter never goes below zero, so a late
/// bunch would overflow it. Not thread-safe on its own; <see cref="PortalRateLimiter"/> serialises callers.
/// </summary>
internal sealed class LeakyBucket(RateLimit limit, TimeProvider time)
{
    private const double Epsilon = 1e-9;
    private double _level;
    private DateTimeOffset _last = DateTimeOffset.MinValue;

    public RateLimit Limit => limit;

    /// <summary>Counts one request if the bucket has room now; otherwise how long until it will.</summary>
    public bool TryTake(out TimeSpan wait)
    {
        var now = time.GetUtcNow();
        if (_last != DateTimeOffset.MinValue)
        {
            _level = Math.Max(0, _level - ((now - _last).TotalSeconds * limit.RequestsPerSecond));
        }

        _last = now;
        if (_level + 1 <= limit.Burst + Epsilon)
        {
            _level += 1;
            wait = TimeSpan.Zero;
            return true;
        }

        wait = TimeSpan.FromSeconds(Math.Max(0.001, (_level + 1 - limit.Burst) / limit.RequestsPerSecond));
        return false;
    }
}
