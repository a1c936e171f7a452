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
/// <para>A reading whose round trip took longer than <see cref="MaxRoundTrip"/> is not used (the offset
/// is known only to within the round trip) and the next call reads again. On a store with a clock of its
/// own, <see cref="NowAsync"/> fails until one reading has been used: acting on this machine's clock
/// meanwhile would be the very hazard this class removes, and the workers' loops back off and try again.
/// Later failures keep the last offset.</para>
/// <para>An offset above <see cref="WarnAbove"/> is logged as a warning (the machine's time service is
/// off), and <c>switchboard_store_clock_offset_seconds</c> shows the offset in use.</para>
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "A SemaphoreSlim whose wait handle is never asked for holds nothing to release; disposing it would only make a late Release throw at shutdown.")]
public sealed partial class StoreClock(IOutboxStore store, TimeProvider time, ILogger<StoreClock> logger)
{
    /// <summary>How often the offset is measured again.</summary>
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromMinutes(1);

    /// <summary>Readings slower than this are discarded.</summary>
    public static readonly TimeSpan MaxRoundTrip = TimeSpan.FromSeconds(1);

    /// <summary>An offset past this is worth an operator's attention.</summary>
    public static readonly TimeSpan WarnAbove = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Once an offset is known, how long after a reading that failed or was too slow the next one is
    /// tried (meanwhile the last offset serves): a slow or unreachable database must not get a reading,
    /// and every pass of the workers a wait, each time they ask.
    /// </summary>
    public static readonly TimeSpan RetryAfterFailure = TimeSpan.FromSeconds(10);

    // One reading at a time; the others wait for it and use its result.
    private readonly SemaphoreSlim _reading = new(1, 1);
    private long _offsetTicks;
    private long _measuredAtTicks = long.MinValue;
    private long _failedAtTicks = long.MinValue;
    private bool _warned;
    private int _slowReadings;

    /// <summary>The database's clock minus this process's, as last measured (zero for a local store, and before the first reading).</summary>
    public TimeSpan Offset => TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));

    /// <summary>Whether an offset has been measured (or the store has no clock of its own).</summary>
    public bool Measured => Interlocked.Read(ref _measuredAtTicks) != long.MinValue;

    /// <summary>Now, on the store's clock, with the offset as last measured.</summary>
    public DateTimeOffset Now => time.GetUtcNow() + Offset;

    /// <summary>Now, on the store's clock, measuring the offset first when it is older than <see cref="RefreshInterval"/>.</summary>
    /// <exception cref="TimeoutException">The store has a clock of its own and no usable reading of it has been taken yet.</exception>
    public async Task<DateTimeOffset> NowAsync(CancellationToken cancellationToken)
    {
        if (IsStale())
        {
            await _reading.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (IsStale())
                {
                    await MeasureAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (Measured && ex is System.Data.Common.DbException or TimeoutException or IOException or System.Net.Sockets.SocketException)
            {
                Interlocked.Exchange(ref _failedAtTicks, time.GetUtcNow().UtcTicks);
                // The last offset stays good for a while; the caller's own work meets the store's trouble anyway.
                var errorType = ex.GetType().Name;
                LogMeasureFailed(logger, errorType, ex.Message);
            }
            finally
            {
                _reading.Release();
            }

            if (!Measured)
            {
                throw new TimeoutException("The database's clock could not be read precisely yet (its round trip took longer than 1 s); outbox times wait for it.");
            }
        }

        return Now;
    }

    private bool IsStale()
    {
        var measuredAt = Interlocked.Read(ref _measuredAtTicks);
        if (measuredAt == long.MinValue)
        {
            return true;
        }

        var local = time.GetUtcNow().UtcTicks;
        var failedAt = Interlocked.Read(ref _failedAtTicks);
        if (failedAt > measuredAt && local >= failedAt && local - failedAt < RetryAfterFailure.Ticks)
        {
            return false;
        }

        return local - measuredAt >= RefreshInterval.Ticks || local < measuredAt;
    }

    // Under _reading.
    private async Task MeasureAsync(CancellationToken cancellationToken)
    {
        var reading = await store.ReadClockAsync(time, cancellationToken).ConfigureAwait(false);
        if (reading is null)
        {
            Interlocked.Exchange(ref _offsetTicks, 0);
            Interlocked.Exchange(ref _measuredAtTicks, time.GetUtcNow().UtcTicks);
            return;
        }

        var roundTrip = reading.After - reading.Before;
        if (roundTrip > MaxRoundTrip || roundTrip < TimeSpan.Zero)
        {
            // Not used. Before a first offset the next call reads again; after it, in RetryAfterFailure.
            Interlocked.Exchange(ref _failedAtTicks, reading.After.UtcTicks);
            if (++_slowReadings % 10 == 3)
            {
                LogImprecise(logger, _slowReadings, roundTrip.TotalMilliseconds);
            }

            return;
        }

        _slowReadings = 0;
        var offset = reading.Database - (reading.Before + (roundTrip / 2));
        Interlocked.Exchange(ref _offsetTicks, offset.Ticks);
        Interlocked.Exchange(ref _measuredAtTicks, reading.After.UtcTicks);
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

    [LoggerMessage(EventId = 4020, Level = LogLevel.Warning, Message = "This machine's clock is {OffsetSeconds:F1} s behind the database's (negative: ahead of it). Outbox leases and due times use the database's clock; fix the machine's time service")]
    private static partial void LogSkewed(ILogger logger, double offsetSeconds);

    [LoggerMessage(EventId = 4021, Level = LogLevel.Information, Message = "This machine's clock is back within 2 s of the database's ({OffsetSeconds:F3} s)")]
    private static partial void LogInStep(ILogger logger, double offsetSeconds);

    [LoggerMessage(EventId = 4022, Level = LogLevel.Warning, Message = "The database's clock could not be read precisely: {Count} readings in a row took longer than 1 s (the last {RoundTripMs:F0} ms); outbox times use the last offset measured, if any")]
    private static partial void LogImprecise(ILogger logger, int count, double roundTripMs);

    [LoggerMessage(EventId = 4023, Level = LogLevel.Debug, Message = "Clock offset to the database not measured: {ErrorType} {Error}")]
    private static partial void LogMeasureFailed(ILogger logger, string errorType, string error);
}
