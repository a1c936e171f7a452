using System.Globalization;
using System.Text;
using Microsoft.Extensions.Options;

namespace Switchboard.Receiving;

/// <summary>
/// Logs refused deliveries as counts per interval plus a sample, not a line each: a flood of hostile
/// bodies (or a full disk answering every event 503) would otherwise write a line per request. The
/// first refusal of each kind in an interval is logged in full by the caller, so a lone bad request
/// is seen at once; the rest of that kind are counted, and when the interval ends one line gives the
/// counts by kind and one of them as a sample. <c>/metrics</c> counts every refusal either way.
/// </summary>
/// <remarks>Kinds come from a fixed set (a status and a constant title or enum name), never from the body,
/// so the table stays small whatever is sent.</remarks>
public sealed partial class RefusalLog : IDisposable
{
    private readonly Lock _lock = new();
    private readonly ILogger<RefusalLog> _logger;
    private readonly TimeSpan _interval;
    private readonly ITimer _timer;
    private Dictionary<string, int> _seen = new(StringComparer.Ordinal);
    private Dictionary<string, int> _suppressed = new(StringComparer.Ordinal);
    private string? _sample;
    private bool _severe;

    public RefusalLog(IOptions<ReceivingOptions> options, TimeProvider time, ILogger<RefusalLog> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        _logger = logger;
        _interval = options.Value.RefusalLogInterval;
        _timer = time.CreateTimer(_ => Flush(), null, _interval, _interval);
    }

    /// <summary>
    /// True when this is the first refusal of <paramref name="kind"/> in the current interval: log it
    /// in full. False: it was counted for the interval's summary.
    /// </summary>
    /// <param name="kind">What was refused and why, from a fixed set.</param>
    /// <param name="severe">A refusal that is Switchboard's trouble, not the sender's (503): the summary
    /// is then logged as an error.</param>
    /// <param name="state">What <paramref name="sample"/> formats.</param>
    /// <param name="sample">The sample's text, built only when it is the interval's first counted refusal.</param>
    public bool ShouldLog<TState>(string kind, bool severe, TState state, Func<TState, string> sample)
    {
        ArgumentNullException.ThrowIfNull(sample);
        lock (_lock)
        {
            if (_seen.TryAdd(kind, 1))
            {
                return true;
            }

            _suppressed[kind] = _suppressed.GetValueOrDefault(kind) + 1;
            _sample ??= sample(state);
            _severe |= severe;
            return false;
        }
    }

    /// <summary>Ends the interval: logs what was counted, if anything, and starts the next one.</summary>
    public void Flush()
    {
        Dictionary<string, int> counted;
        string? sample;
        bool severe;
        lock (_lock)
        {
            if (_seen.Count == 0)
            {
                return; // a quiet interval: nothing to reset
            }

            counted = _suppressed;
            sample = _sample;
            severe = _severe;
            _seen = new(StringComparer.Ordinal);
            _suppressed = new(StringComparer.Ordinal);
            _sample = null;
            _severe = false;
        }

        if (counted.Count == 0)
        {
            return;
        }

        var total = counted.Values.Sum();
        var kinds = new StringBuilder();
        foreach (var (kind, count) in counted.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal))
        {
            kinds.Append(kinds.Length == 0 ? string.Empty : ", ").Append(kind).Append(": ").Append(count.ToString(CultureInfo.InvariantCulture));
        }

        var seconds = _interval.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
        if (severe)
        {
            LogSevereSummary(_logger, total, seconds, kinds.ToString(), sample ?? string.Empty);
        }
        else
        {
            LogSummary(_logger, total, seconds, kinds.ToString(), sample ?? string.Empty);
        }
    }

    public void Dispose()
    {
        _timer.Dispose();
        Flush();
    }

    [LoggerMessage(EventId = 1007, Level = LogLevel.Warning, Message = "{Count} more deliveries refused in the last {Seconds} s ({Kinds}), sample: {Sample}")]
    private static partial void LogSummary(ILogger logger, int count, string seconds, string kinds, string sample);

    [LoggerMessage(EventId = 1008, Level = LogLevel.Error, Message = "{Count} more deliveries refused in the last {Seconds} s ({Kinds}), sample: {Sample}")]
    private static partial void LogSevereSummary(ILogger logger, int count, string seconds, string kinds, string sample);
}
