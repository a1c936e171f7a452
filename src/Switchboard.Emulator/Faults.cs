namespace Switchboard.Emulator;

/// <summary>What an injected fault does to one request.</summary>
public enum FaultKind
{
    /// <summary>HTTP 500 INTERNAL_SERVER_ERROR.</summary>
    InternalServerError,
    /// <summary>HTTP 503 QUERY_LIMIT_EXCEEDED.</summary>
    QueryLimitExceeded,
    /// <summary>Answer normally, but only after <see cref="Faults.Delay"/>.</summary>
    Delay,
    /// <summary>Abort the connection without an answer.</summary>
    DropConnection,
    /// <summary>
    /// Execute the request normally (state changed, logged with the status it would have answered), then
    /// abort the connection without an answer: the portal did the work but the client never hears of it.
    /// A <c>batch</c> runs all its commands first.
    /// </summary>
    ApplyThenDrop,
    /// <summary>
    /// Execute the request normally, then hold the answer for <see cref="Faults.Delay"/> (real time): the
    /// work has already taken effect while the client waits, e.g. to be killed. A <c>batch</c> runs all its commands first.
    /// </summary>
    ApplyThenDelay,
}

/// <summary>
/// Faults for tests: the next N REST/OAuth requests fail in a chosen way, or everything answers 503
/// while <see cref="Outage"/> is on. Thread-safe.
/// </summary>
public sealed class Faults
{
    private readonly Lock _sync = new();
    private readonly List<(FaultKind Kind, string? Method)> _queue = [];
    private volatile bool _outage;
    private string? _leadCreationError;

    /// <summary>How long a <see cref="FaultKind.Delay"/> or <see cref="FaultKind.ApplyThenDelay"/> fault holds the answer (real time).</summary>
    public TimeSpan Delay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>While true every REST and OAuth request answers 503 (a portal outage).</summary>
    public bool Outage
    {
        get => _outage;
        set => _outage = value;
    }

    /// <summary>
    /// Makes the next <paramref name="count"/> requests fail with <paramref name="kind"/>. Faults are taken
    /// in the order they were added; each request takes at most one.
    /// </summary>
    /// <param name="count">How many requests the fault hits.</param>
    /// <param name="kind">What happens to each of them.</param>
    /// <param name="method">
    /// When set, only requests to this method take the fault (case-insensitive, without <c>.json</c>, e.g.
    /// <c>telephony.externalCall.finish</c>, <c>batch</c>, <c>oauth/token</c>); other requests pass it by.
    /// It is matched against the request's URL, so a command inside a <c>batch</c> does not take a fault
    /// aimed at its method: aim at <c>batch</c> for that. Null hits any request.
    /// </param>
    public void FailNext(int count, FaultKind kind, string? method = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var target = method is null ? null : Normalize(method);
        lock (_sync)
        {
            for (var i = 0; i < count; i++)
            {
                _queue.Add((kind, target));
            }
        }
    }

    /// <summary>The next telephony.externalCall.register answers 200 with this LEAD_CREATION_ERROR.</summary>
    public void InjectLeadCreationError(string message)
    {
        lock (_sync)
        {
            _leadCreationError = message;
        }
    }

    /// <summary>Clears every pending fault and the outage.</summary>
    public void Clear()
    {
        lock (_sync)
        {
            _queue.Clear();
            _leadCreationError = null;
            _outage = false;
        }
    }

    /// <summary>Takes the first pending fault aimed at <paramref name="method"/> or at any request.</summary>
    internal FaultKind? Take(string method)
    {
        var name = Normalize(method);
        lock (_sync)
        {
            var i = _queue.FindIndex(f => f.Method is null || f.Method == name);
            if (i < 0)
            {
                return null;
            }

            var kind = _queue[i].Kind;
            _queue.RemoveAt(i);
            return kind;
        }
    }

    // Method names are case-insensitive on the portal (REFERENCE §4.1: "Optional suffix .json (default)";
    // "Method names are case-insensitive in practice"), so a fault aimed at one matches every spelling.
    private static string Normalize(string method)
    {
        var name = method.Trim().ToLowerInvariant();
        return name.EndsWith(".json", StringComparison.Ordinal) ? name[..^5] : name;
    }

    internal string? TakeLeadCreationError()
    {
        lock (_sync)
        {
            var e = _leadCreationError;
            _leadCreationError = null;
            return e;
        }
    }
}
