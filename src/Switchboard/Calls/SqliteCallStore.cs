using System.Data.Common;
using Switchboard.Outbox;
using Switchboard.Storage;

namespace Switchboard.Calls;

/// <summary>
/// The ledger in the outbox's SQLite file (<c>ledger.db</c>), on the outbox's one write connection: a
/// record, its commands and the cursor move commit together, and the ledger and the outbox worker take
/// turns at that connection in this process. The journal is another file, so none of this ever waits
/// for (or holds up) an event being acknowledged.
/// </summary>
public sealed class SqliteCallStore(SqliteOutboxStore outbox) : SqlCallStore(outbox)
{
    /// <inheritdoc/>
    protected override async ValueTask<DbConnection> OpenReadConnectionAsync(CancellationToken cancellationToken) =>
        await SqliteFiles.OpenAsync(outbox.ConnectionString, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc/>
    protected override Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, CancellationToken, Task<T>> work, CancellationToken cancellationToken) =>
        outbox.Writer.WriteAsync((connection, tx, ct) => work(connection, tx, ct), cancellationToken);

    /// <inheritdoc/>
    /// <remarks>The write connection belongs to the outbox store, which disposes it.</remarks>
    public override ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
