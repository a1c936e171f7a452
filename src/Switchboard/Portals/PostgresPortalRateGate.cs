using Npgsql;
using Switchboard.Bitrix24.Limits;

namespace Switchboard.Portals;

/// <summary>
/// The portal's leaky bucket kept in PostgreSQL, shared by every Switchboard instance on the database,
/// so that several instances sending to one portal stay within its limit together (RELIABILITY
/// "rate never exceeded"). One row per portal: the bucket's level and when it was last counted, on the
/// database's clock, so the instances' clocks do not matter. A request locks the row, drains the level
/// by the time passed, and counts itself if it fits; otherwise it waits the time the bucket needs.
/// </summary>
/// <remarks>
/// Each instance's in-process bucket stays in front of this one, so at most one request per portal and
/// instance waits here at a time. Costs one short transaction per REST request: nothing at the
/// request rates a portal allows (2 or 5 per second).
/// </remarks>
public sealed class PostgresPortalRateGate(string connectionString, TimeProvider time) : IPortalRateGate, IAsyncDisposable
{
    // Any constant, not the other stores': serialises CREATE TABLE when instances start together.
    private const long SchemaLockKey = 0x5357_4244_0005;

    // A small pool of its own: at most one request per portal and instance waits here at a time.
    private readonly NpgsqlDataSource _dataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(connectionString) { MaxPoolSize = 10 }.ConnectionString);
    private readonly SemaphoreSlim _schema = new(1, 1);
    private bool _created;

    /// <inheritdoc/>
    public async ValueTask WaitAsync(string memberId, RateLimit limit, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(memberId);
        await EnsureTableAsync(cancellationToken).ConfigureAwait(false);
        while (true)
        {
            var wait = await TryTakeAsync(memberId, limit, cancellationToken).ConfigureAwait(false);
            if (wait <= TimeSpan.Zero)
            {
                return;
            }

            await Task.Delay(wait, time, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<TimeSpan> TryTakeAsync(string memberId, RateLimit limit, CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var tx = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
        await using (var insert = new NpgsqlCommand(
            "INSERT INTO portal_rate (member_id, level, counted_at) VALUES (@m, 0, extract(epoch FROM clock_timestamp())) ON CONFLICT (member_id) DO NOTHING",
            connection, tx))
        {
            insert.Parameters.AddWithValue("m", memberId);
            await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        double level, countedAt, now;
        await using (var select = new NpgsqlCommand(
            "SELECT level, counted_at, extract(epoch FROM clock_timestamp())::double precision FROM portal_rate WHERE member_id = @m FOR UPDATE",
            connection, tx))
        {
            select.Parameters.AddWithValue("m", memberId);
            await using var r = await select.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await r.ReadAsync(ct).ConfigureAwait(false);
            (level, countedAt, now) = (r.GetDouble(0), r.GetDouble(1), r.GetDouble(2));
        }

        var drained = Math.Max(0, level - (Math.Max(0, now - countedAt) * limit.RequestsPerSecond));
        if (drained + 1 > limit.Burst + 1e-9)
        {
            if (countedAt > now)
            {
                // The database's clock went back (a failover): count from now, or the bucket would not
                // drain until the clock caught up.
                await using var rewind = new NpgsqlCommand("UPDATE portal_rate SET counted_at = @now WHERE member_id = @m", connection, tx);
                rewind.Parameters.AddWithValue("m", memberId);
                rewind.Parameters.AddWithValue("now", now);
                await rewind.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await tx.CommitAsync(ct).ConfigureAwait(false);
            return TimeSpan.FromSeconds(Math.Max(0.001, (drained + 1 - limit.Burst) / limit.RequestsPerSecond));
        }

        await using (var update = new NpgsqlCommand("UPDATE portal_rate SET level = @level, counted_at = @now WHERE member_id = @m", connection, tx))
        {
            update.Parameters.AddWithValue("m", memberId);
            update.Parameters.AddWithValue("level", drained + 1);
            update.Parameters.AddWithValue("now", now);
            await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        await tx.CommitAsync(ct).ConfigureAwait(false);
        return TimeSpan.Zero;
    }

    private async Task EnsureTableAsync(CancellationToken ct)
    {
        if (Volatile.Read(ref _created))
        {
            return;
        }

        await _schema.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_created)
            {
                return;
            }

            await using var connection = await _dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var tx = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using (var cmd = new NpgsqlCommand($"""
                SELECT pg_advisory_xact_lock({SchemaLockKey});
                CREATE TABLE IF NOT EXISTS portal_rate (
                    member_id  TEXT PRIMARY KEY,
                    level      DOUBLE PRECISION NOT NULL,
                    counted_at DOUBLE PRECISION NOT NULL)
                """, connection, tx))
            {
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await tx.CommitAsync(ct).ConfigureAwait(false);
            Volatile.Write(ref _created, true);
        }
        finally
        {
            _schema.Release();
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await _dataSource.DisposeAsync().ConfigureAwait(false);
        _schema.Dispose();
    }
}
