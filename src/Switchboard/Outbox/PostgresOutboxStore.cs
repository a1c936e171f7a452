using System.Data;
using System.Data.Common;
using Npgsql;
using Switchboard.Storage;

namespace Switchboard.Outbox;

/// <summary>
/// The outbox in PostgreSQL, for several Switchboard instances sharing the work. Claims lock the rows
/// they pick with <c>FOR UPDATE SKIP LOCKED</c>, so instances claiming at once take disjoint rows
/// without waiting for each other; the lease (<c>lease_until</c>) returns a dead instance's items.
/// </summary>
public sealed class PostgresOutboxStore : SqlOutboxStore
{
    // Any constant (not the journal's): serialises CREATE TABLE IF NOT EXISTS when instances start together.
    private const long SchemaLockKey = 0x5357_4244_0002;

    private readonly NpgsqlDataSource _dataSource;

    /// <summary>Uses this connection string (Npgsql's format); the store has its own connection pool.</summary>
    public PostgresOutboxStore(string connectionString)
    {
        _dataSource = NpgsqlDataSource.Create(connectionString);
    }

    /// <inheritdoc/>
    protected override string IdColumnDefinition => "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY";

    /// <inheritdoc/>
    protected override IReadOnlyList<string> SchemaStatements => [$"SELECT pg_advisory_xact_lock({SchemaLockKey})", .. SharedSchema];

    /// <inheritdoc/>
    protected override string ClaimLockClause => "\n    FOR UPDATE SKIP LOCKED";

    /// <inheritdoc/>
    protected override string LapsedLockClause => " FOR UPDATE";

    /// <inheritdoc/>
    protected override async ValueTask<DbConnection> OpenReadConnectionAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

    /// <inheritdoc/>
    protected override Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, CancellationToken, Task<T>> work, CancellationToken cancellationToken) =>
        PostgresWrites.WriteAsync(_dataSource, work, cancellationToken);

    /// <inheritdoc/>
    /// <remarks>
    /// <c>clock_timestamp()</c>, the server's time when it is read (<c>now()</c> is the start of the
    /// transaction), read as a <see cref="DateTimeOffset"/>: Npgsql gives <c>timestamptz</c> in UTC. The
    /// connection is open before the first read of this process's clock, so only the query's one round
    /// trip (Npgsql sends an unprepared command's parse, bind and execute together) is in between.
    /// </remarks>
    public override async Task<ClockReading?> ReadClockAsync(TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(time);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("SELECT clock_timestamp()", connection);
        var before = time.GetUtcNow();
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            throw new InvalidOperationException("SELECT clock_timestamp() returned no row.");
        }

        var database = reader.GetFieldValue<DateTimeOffset>(0);
        var after = time.GetUtcNow();
        return new ClockReading(before, database, after);
    }

    /// <inheritdoc/>
    public override ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
