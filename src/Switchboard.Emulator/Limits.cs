namespace Switchboard.Emulator;

/// <summary>
/// The per-portal leaky bucket. EN-docs limits.md: "each request adds 1 to a counter; once the
/// counter exceeds X the next request fails with HTTP 503 QUERY_LIMIT_EXCEEDED; the counter drains
/// by Y per second" (X = 50, Y = 2 on non-Enterprise plans). A rejected request adds nothing.
/// </summary>
internal sealed class LeakyBucket(EmulatorOptions options, TimeProvider time)
{
    private readonly Lock _sync = new();
    private double _level;
    private DateTimeOffset _last = time.GetUtcNow();

    public bool TryTake()
    {
        lock (_sync)
        {
            var now = time.GetUtcNow();
            var drained = (now - _last).TotalSeconds * options.RateLimitDrainPerSecond;
            _level = Math.Max(0, _level - Math.Max(0, drained));
            _last = now;
            if (_level + 1 > options.RateLimitBurst)
            {
                return false;
            }

            _level += 1;
            return true;
        }
    }

    public double Level
    {
        get
        {
            lock (_sync)
            {
                return _level;
            }
        }
    }
}

/// <summary>
/// Operating time per method. EN-docs limits.md / helpdesk 15961972: execution time is summed per
/// method per app in ten 1-minute buckets, each expiring 10 minutes after its first call; once the sum
/// exceeds the limit (480 s in the cloud) the next call of that method gets 429 OPERATION_TIME_LIMIT.
/// The outer batch is not counted, each command inside it is. Responses report the sum as
/// time.operating and the oldest bucket's expiry as time.operating_reset_at.
/// </summary>
internal sealed class OperatingClock(EmulatorOptions options, TimeProvider time)
{
    private readonly Lock _sync = new();
    private readonly Dictionary<string, List<(DateTimeOffset Start, double Seconds)>> _buckets = new(StringComparer.Ordinal);

    /// <summary>True when the method is blocked; <paramref name="resetAt"/> says until when.</summary>
    public bool IsBlocked(string method, out DateTimeOffset resetAt)
    {
        lock (_sync)
        {
            var list = Current(method);
            resetAt = list.Count > 0 ? list[0].Start + options.OperatingWindow : time.GetUtcNow();
            return list.Sum(b => b.Seconds) > options.OperatingLimit.TotalSeconds;
        }
    }

    /// <summary>Charges one call and returns (operating, operating_reset_at).</summary>
    public (double Operating, DateTimeOffset ResetAt) Charge(string method, double seconds)
    {
        lock (_sync)
        {
            var now = time.GetUtcNow();
            var list = Current(method);
            if (list.Count == 0 || now - list[^1].Start >= TimeSpan.FromMinutes(1))
            {
                list.Add((now, seconds));
            }
            else
            {
                list[^1] = (list[^1].Start, list[^1].Seconds + seconds);
            }

            return (list.Sum(b => b.Seconds), list[0].Start + options.OperatingWindow);
        }
    }

    private List<(DateTimeOffset Start, double Seconds)> Current(string method)
    {
        if (!_buckets.TryGetValue(method, out var list))
        {
            list = [];
            _buckets[method] = list;
        }

        var now = time.GetUtcNow();
        list.RemoveAll(b => now >= b.Start + options.OperatingWindow);
        return list;
    }
}
