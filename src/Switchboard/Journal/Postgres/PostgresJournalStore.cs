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
