using System.Data;
using System.Data.Common;
using Npgsql;
using Switchboard.Storage;

namespace Switchboard.Journal.Postgres;

/// <summary>
/// The store for several Switchboard instances sharing load: PostgreSQL through Npgsql. A commit
/// returns once PostgreSQL has flushed it (the server's default <c>synchronous_commit=on</c>; the
/// README warns against turning it off). Dedup across instances rests on the unique dedup key.
/// </summary>
public sealed class PostgresJournalStore : SqlJournalStore
{
    // Any constant: the advisory lock that serialises schema creation when instances start together.
    private const long SchemaLockKey = 0x5357_4244_0001;

    private readonly NpgsqlDataSource _dataSource;

    /// <summary>Uses this connection string (Npgsql's format).</summary>
    public PostgresJournalStore(string connectionString)
    {
        _dataSource = NpgsqlDataSource.Create(connectionString);
    }

    /// <inheritdoc/>
    public override string Kind => "postgres";

    /// <inheritdoc/>
    protected override string IdColumnDefinition => "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY";

    /// <inheritdoc/>
    protected override IReadOnlyList<string> SchemaStatements => [$"SELECT pg_advisory_xact_lock({SchemaLockKey})", .. SharedSchema];

    // Another constant: held by each append transaction until it commits. Identity values are handed
    // out in the order transactions take them, but become visible in commit order; with appends
    // serialised here the two orders agree, and a reader that saw id N has seen every id below N that
    // will ever exist (gaps are rolled-back or duplicate inserts, never late rows). The journal
    // writer commits batches, so this costs one lock per batch, not per event.
    private const long AppendOrderLockKey = 0x5357_4244_0003;

    /// <inheritdoc/>
    protected override string? AppendOrderLockSql => $"SELECT pg_advisory_xact_lock({AppendOrderLockKey})";

    /// <inheritdoc/>
    protected override string LockPortalRowsClause => " FOR SHARE";

    /// <inheritdoc/>
    protected override async ValueTask<DbConnection> OpenReadConnectionAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

    /// <inheritdoc/>
    protected override Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, CancellationToken, Task<T>> work, CancellationToken cancellationToken) =>
        PostgresWrites.WriteAsync(_dataSource, work, cancellationToken);

    /// <inheritdoc/>
    public override ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
