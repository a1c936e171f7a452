using System.Data.Common;
using Npgsql;
using Switchboard.Outbox;
using Switchboard.Storage;

namespace Switchboard.Calls;

/// <summary>The ledger in PostgreSQL, shared by every instance on the database.</summary>
public sealed class PostgresCallStore : SqlCallStore
{
    // Any constant, not the journal's or the outbox's: serialises CREATE TABLE when instances start together.
    private const long SchemaLockKey = 0x5357_4244_0004;

    private readonly NpgsqlDataSource _dataSource;

    /// <summary>Uses this connection string; <paramref name="outbox"/> must be on the same database.</summary>
    public PostgresCallStore(string connectionString, IOutboxStore outbox)
        : base(outbox)
    {
        _dataSource = NpgsqlDataSource.Create(connectionString);
    }

    /// <inheritdoc/>
    protected override IReadOnlyList<string> SchemaPreamble => [$"SELECT pg_advisory_xact_lock({SchemaLockKey})"];

    /// <inheritdoc/>
    protected override string ForUpdateClause => " FOR UPDATE";

    /// <inheritdoc/>
    protected override string CallsTableExistsSql => "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'calls'";

    /// <inheritdoc/>
    protected override string LoadRecordsSql => "SELECT member_id, call_id, record FROM calls WHERE call_key = ANY(@keys)";

    /// <inheritdoc/>
    protected override object KeysParameter(string[] keys) => keys;

    /// <inheritdoc/>
    protected override IReadOnlyList<string> AfterCallsRenamed => ["ALTER TABLE calls RENAME CONSTRAINT calls_v2_pkey TO calls_pkey"];

    /// <inheritdoc/>
    protected override async ValueTask<DbConnection> OpenReadConnectionAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

    /// <inheritdoc/>
    protected override Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, CancellationToken, Task<T>> work, CancellationToken cancellationToken) =>
        PostgresWrites.WriteAsync(_dataSource, work, cancellationToken);

    /// <inheritdoc/>
    public override ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
