namespace Switchboard.Bitrix24.Limits;

/// <summary>A leaky bucket's drain rate and size.</summary>
/// <param name="RequestsPerSecond">Drain per second (2; Enterprise 5).</param>
/// <param name="Burst">Bucket size (50; Enterprise 250).</param>
public readonly record struct RateLimit(double RequestsPerSecond, int Burst);

/// <summary>
/// The client side of the portal's leaky bucket (EN-docs limits.md: each request adds 1, the counter
/// drains by Y per second, over X the request fails with 503 QUERY_LIMIT_EXCEEDED). Kept as GCRA: a
/// "theoretical arrival time" that each request pushes one interval further. A caller reserves a slot
/// and waits until it (never fails for lack of room), so the send times of any set of callers never
/// exceed <c>Burst + rate × window</c> in any window.
/// </summary>
internal sealed class LeakyBucket(RateLimit limit, TimeProvider time)
{
    private readonly Lock _gate = new();
    private readonly TimeSpan _interval = TimeSpan.FromSeconds(1 / limit.RequestsPerSecond);
    private DateTimeOffset _tat = DateTimeOffset.MinValue;

    public RateLimit Limit => limit;

    /// <summary>Reserves the next slot and returns how long to wait before sending (zero when the bucket has room).</summary>
    public TimeSpan Reserve()
    {
        lock (_gate)
        {
            var now = time.GetUtcNow();
            var tat = (_tat > now ? _tat : now) + _interval;
            _tat = tat;
            var sendAt = tat - (_interval * limit.Burst);
            return sendAt > now ? sendAt - now : TimeSpan.Zero;
        }
    }
}
