namespace Switchboard.Bitrix24.Limits;

/// <summary>Exponential back-off with "equal jitter": half the delay fixed, half random, so many
/// workers that failed together do not come back together (the docs advise increasing delays and no
/// parallel request series, EN-docs limits.md).</summary>
internal static class Backoff
{
    public static TimeSpan Delay(int attempt, TimeSpan baseDelay, TimeSpan maxDelay)
    {
        var exp = baseDelay.TotalMilliseconds * Math.Pow(2, Math.Max(0, attempt - 1));
        var capped = Math.Min(exp, maxDelay.TotalMilliseconds);
#pragma warning disable CA5394 // jitter, not security
        var jittered = (capped / 2) + (Random.Shared.NextDouble() * capped / 2);
#pragma warning restore CA5394
        return TimeSpan.FromMilliseconds(jittered);
    }
}
