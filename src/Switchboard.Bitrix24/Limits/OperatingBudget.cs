using System.Collections.Concurrent;
using Switchboard.Bitrix24.Rest;

namespace Switchboard.Bitrix24.Limits;

/// <summary>
/// Per portal and method: the operating-time budget (EN-docs limits.md: run time is summed per method
/// in ten 1-minute buckets; over the limit the method answers 429 OPERATION_TIME_LIMIT while other
/// methods still work). Remembers <c>time.operating_reset_at</c> from each answer and, after a 429,
/// pauses that method until then ("pause the blocked method until operating_reset_at").
/// </summary>
internal sealed class OperatingBudget(TimeProvider time)
{
    private readonly ConcurrentDictionary<(string Portal, string Method), State> _methods = new();

    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(1);

    private sealed record State(double? Operating, DateTimeOffset? ResetAt, DateTimeOffset? PausedUntil);

    public void Record(string memberId, string method, RestTime? t)
    {
        if (t is null)
        {
            return;
        }

        _methods.AddOrUpdate(Key(memberId, method),
            _ => new State(t.Operating, t.OperatingResetAt, null),
            (_, s) => s with { Operating = t.Operating ?? s.Operating, ResetAt = t.OperatingResetAt ?? s.ResetAt });
    }

    /// <summary>Pauses the method after a 429; returns when it may be called again.</summary>
    public DateTimeOffset Pause(string memberId, string method, RestTime? fromError, TimeSpan fallback)
    {
        var now = time.GetUtcNow();
        var state = _methods.GetValueOrDefault(Key(memberId, method));
        // operating_reset_at is whole Unix seconds and timers may fire a little early: one second of margin.
        var until = fromError?.OperatingResetAt is { } e && e > now ? e + Margin
            : state?.ResetAt is { } r && r > now ? r + Margin
            : now + fallback;
        _methods.AddOrUpdate(Key(memberId, method),
            _ => new State(null, null, until),
            (_, s) => s with { PausedUntil = until });
        return until;
    }

    /// <summary>When the method is paused: until when. Null when it may be called now.</summary>
    public DateTimeOffset? PausedUntil(string memberId, string method) =>
        _methods.GetValueOrDefault(Key(memberId, method))?.PausedUntil is { } p && p > time.GetUtcNow() ? p : null;

    private static (string, string) Key(string memberId, string method) => (memberId, method.ToLowerInvariant());
}
