using System.Data.Common;
using Switchboard.Outbox;
using Switchboard.Storage;

namespace Switchboard.Calls;

/// <summary>The ledger in the journal's SQLite file (it reads the <c>events</c> table there).</summary>
public sealed class SqliteCallStore : SqlCallStore
{
    private readonly string _connectionString;
    private readonly SqliteWriter _writer;

    /// <summary>Opens the database file; <paramref name="outbox"/> must be on the same file.</summary>
    public SqliteCallStore(string path, IOutboxStore outbox, TimeSpan? busyTimeout = null)
        : base(outbox)
    {
        var timeout = busyTimeout ?? TimeSpan.FromSeconds(5);
        _connectionString = SqliteFiles.ConnectionString(System.IO.Path.GetFullPath(path), timeout);
        // FULL: a record, its commands and the cursor move are on disk together when the commit returns.
        _writer = new SqliteWriter(_connectionString, $"PRAGMA synchronous = FULL; PRAGMA busy_timeout = {(int)timeout.TotalMilliseconds};");
    }

    /// <inheritdoc/>
    protected override async ValueTask<DbConnection> OpenReadConnectionAsync(CancellationToken cancellationToken) =>
        await SqliteFiles.OpenAsync(_connectionString, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc/>
    protected override Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, CancellationToken, Task<T>> work, CancellationToken cancellationToken) =>
        _writer.WriteAsync((connection, tx, ct) => work(connection, tx, ct), cancellationToken);

    /// <inheritdoc/>
    public override ValueTask DisposeAsync() => _writer.DisposeAsync();
}
