namespace Switchboard.Outbox;

/// <summary>
/// The time by the shared store's clock, for what instances compare with each other: an outbox
/// command's lease (<c>lease_until</c>) and due time (<c>next_attempt_at</c>). On PostgreSQL several
/// instances on several machines claim from one outbox; with each on its own clock, an instance whose
/// clock ran minutes ahead saw another instance's live lease as run out, claimed the command and sent it
/// a second time while the first was still sending it. So each instance measures how far the
/// database's clock is from its own (once a minute, <c>SELECT clock_timestamp()</c>) and stamps and
/// compares outbox times on the database's clock. On SQLite the store is a local file: every process
/// that uses it runs on this machine's clock, and the offset is zero.
/// </summary>
/// <remarks>
/// A measurement whose round trip took longer than <see cref="MaxRoundTrip"/> is not used: the offset
/// is known only to within the round trip. An offset above <see cref="WarnAbove"/> is logged as a
/// warning (the machine's time service is off), and <c>switchboard_store_clock_offset_seconds</c>
/// shows the offset in use.
/// </remarks>
public sealed partial class StoreClock(IOutboxStore store, TimeProvider time, ILogger<StoreClock> logger)
{
    /// <summary>How often the offset is measured again.</summary>
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromMinutes(1);

    /// <summary>Measurements slower than this are discarded.</summary>
    public static readonly TimeSpan MaxRoundTrip = TimeSpan.FromSeconds(1);

    /// <summary>An offset past this is worth an operator's attention.</summary>
    public static readonly TimeSpan WarnAbove = TimeSpan.FromSeconds(2);

    private long _offsetTicks;
    private long _measuredAtTicks = long.MinValue;
    private int _measuring;
    private bool _warned;

    /// <summary>The database's clock minus this process's, as last measured (zero for a local store).</summary>
    public TimeSpan Offset => TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));

    /// <summary>Now, on the store's clock, with the offset as last measured.</summary>
    public DateTimeOffset Now => time.GetUtcNow() + Offset;

    /// <summary>Now, on the store's clock, measuring the offset first when the last measurement is older than <see cref="RefreshInterval"/>.</summary>
    /// <remarks>A failed measurement keeps the last offset (the store being down fails the caller's own work anyway).</remarks>
    public async Task<DateTimeOffset> NowAsync(CancellationToken cancellationToken)
    {
        var measuredAt = Interlocked.Read(ref _measuredAtTicks);
        var local = time.GetUtcNow().UtcTicks;
        if (measuredAt == long.MinValue || local - measuredAt >= RefreshInterval.Ticks || local < measuredAt)
        {
            try
            {
                await MeasureAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is System.Data.Common.DbException or TimeoutException or IOException or System.Net.Sockets.SocketException)
            {
                var errorType = ex.GetType().Name;
                LogMeasureFailed(logger, errorType, ex.Message);
            }
        }

        return Now;
    }

    /// <summary>Measures the offset now (one at a time; a call meeting one in progress returns at once).</summary>
    public async Task MeasureAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _measuring, 1) == 1)
        {
            return;
        }

        try
        {
            var before = time.GetUtcNow();
            var database = await store.DatabaseTimeAsync(cancellationToken).ConfigureAwait(false);
            var after = time.GetUtcNow();
            Interlocked.Exchange(ref _measuredAtTicks, after.UtcTicks);
            if (database is not { } db)
            {
                Interlocked.Exchange(ref _offsetTicks, 0);
                return;
            }

            var roundTrip = after - before;
            if (roundTrip > MaxRoundTrip || roundTrip < TimeSpan.Zero)
            {
                LogImprecise(logger, roundTrip.TotalMilliseconds);
                return;
            }

            var offset = db - (before + (roundTrip / 2));
            Interlocked.Exchange(ref _offsetTicks, offset.Ticks);
            if (offset.Duration() > WarnAbove)
            {
                if (!_warned)
                {
                    _warned = true;
                    LogSkewed(logger, offset.TotalSeconds);
                }
            }
            else if (_warned)
            {
                _warned = false;
                LogInStep(logger, offset.TotalSeconds);
            }
        }
        finally
        {
            Interlocked.Exchange(ref _measuring, 0);
        }
    }

    [LoggerMessage(EventId = 4020, Level = LogLevel.Warning, Message = "This machine's clock is {OffsetSeconds:F1} s behind the database's (negative: ahead of it). Outbox leases and due times use the database's clock; fix the machine's time service")]
    private static partial void LogSkewed(ILogger logger, double offsetSeconds);

    [LoggerMessage(EventId = 4021, Level = LogLevel.Information, Message = "This machine's clock is back within 2 s of the database's ({OffsetSeconds:F3} s)")]
    private static partial void LogInStep(ILogger logger, double offsetSeconds);

    [LoggerMessage(EventId = 4022, Level = LogLevel.Debug, Message = "Clock offset to the database not measured: the round trip took {RoundTripMs:F0} ms")]
    private static partial void LogImprecise(ILogger logger, double roundTripMs);

    [LoggerMessage(EventId = 4023, Level = LogLevel.Debug, Message = "Clock offset to the database not measured: {ErrorType} {Error}")]
    private static partial void LogMeasureFailed(ILogger logger, string errorType, string error);
}
