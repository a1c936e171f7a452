using System.Collections.Concurrent;

namespace Switchboard.Bitrix24.Limits;

/// <summary>One <see cref="LeakyBucket"/> per portal (the portal counts per portal and source IP, so all
/// calls from this process to one portal share it). Callers of one portal queue in turn; only the one at
/// the head waits on the clock, and waiting never fails.</summary>
internal sealed class PortalRateLimiter(RateLimit defaults, TimeProvider time, int headroom = 0, IPortalRateGate? shared = null)
{
    private readonly ConcurrentDictionary<string, Gate> _gates = new(StringComparer.Ordinal);

    private sealed class Gate(LeakyBucket bucket)
    {
        public LeakyBucket Bucket { get; set; } = bucket;
        public SemaphoreSlim Turn { get; } = new(1, 1);
    }

    public async ValueTask WaitAsync(string memberId, RateLimit? portalLimit, CancellationToken cancellationToken)
    {
        var plan = portalLimit ?? defaults;
        var limit = plan with { Burst = Math.Max(1, plan.Burst - Math.Max(0, headroom)) };
        var gate = _gates.GetOrAdd(memberId, _ => new Gate(new LeakyBucket(limit, time)));
        await gate.Turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (gate.Bucket.Limit != limit)
            {
                gate.Bucket = new LeakyBucket(limit, time); // the portal's plan changed
            }

            while (!gate.Bucket.TryTake(out var wait))
            {
                await Task.Delay(wait, time, cancellationToken).ConfigureAwait(false);
            }

            // The bucket shared with other processes is asked while this portal's turn is held: at most
            // one request per portal and process waits there, in order.
            if (shared is not null)
            {
                await shared.WaitAsync(memberId, limit, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            gate.Turn.Release();
        }
    }
}
