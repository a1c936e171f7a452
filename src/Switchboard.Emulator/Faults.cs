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
}

/// <summary>
/// Faults for tests: the next N REST/OAuth requests fail in a chosen way, or everything answers 503
/// while <see cref="Outage"/> is on. Thread-safe.
/// </summary>
public sealed class Faults
{
    private readonly Lock _sync = new();
    private readonly Queue<FaultKind> _queue = new();
    private volatile bool _outage;
    private string? _leadCreationError;

    /// <summary>How long a <see cref="FaultKind.Delay"/> fault holds the answer (real time).</summary>
    public TimeSpan Delay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>While true every REST and OAuth request answers 503 (a portal outage).</summary>
    public bool Outage
    {
        get => _outage;
        set => _outage = value;
    }

    /// <summary>Makes the next <paramref name="count"/> requests fail with <paramref name="kind"/>.</summary>
    public void FailNext(int count, FaultKind kind)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        lock (_sync)
        {
            for (var i = 0; i < count; i++)
            {
                _queue.Enqueue(kind);
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

    internal FaultKind? Take()
    {
        lock (_sync)
        {
            return _queue.TryDequeue(out var kind) ? kind : null;
        }
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
