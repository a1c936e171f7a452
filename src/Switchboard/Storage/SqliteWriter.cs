using Microsoft.Data.Sqlite;

namespace Switchboard.Storage;

/// <summary>
/// The one write connection to a SQLite file, behind a lock: SQLite allows one writer anyway, and a
/// long-lived connection keeps its prepared statements and per-connection pragmas (synchronous is
/// per connection). Transactions are <c>BEGIN IMMEDIATE</c>, so a competing writer is met at BEGIN,
/// where the busy timeout applies, not halfway through. After a failed write (disk full, file gone,
/// lock timeout) the next write starts on a fresh connection rather than trust this one's state. A
/// transaction is not committed once the file has been deleted or renamed under it (SQLite would
/// commit into the unlinked file in WAL mode).
/// </summary>
public sealed class SqliteWriter(string connectionString, string pragmas) : IAsyncDisposable
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private SqliteConnection? _connection;
    private int _disposed;
    private volatile bool _checkpointWanted;

    /// <summary>
    /// Asks for a PASSIVE checkpoint on this connection before its next write transaction. A checkpoint
    /// on another connection cannot catch up with a writer that commits back to back (it copies the
    /// frames that existed when it began, and more arrive meanwhile), and SQLite starts the WAL over
    /// only when a write begins with every frame copied. Run here, between two transactions, it copies
    /// the few frames the background checkpoint left, so the next write starts the WAL from the top.
    /// </summary>
    public void RequestCheckpoint() => _checkpointWanted = true;

    /// <summary>Runs <paramref name="work"/> in one write transaction and commits it.</summary>
    /// <param name="work">The transaction's statements.</param>
    /// <param name="cancellationToken">Cancels waiting for the connection, and the work.</param>
    /// <param name="completed">Called before the next transaction can begin: true once committed, false after a failure (rolled back).</param>
    public async Task<T> WriteAsync<T>(Func<SqliteConnection, SqliteTransaction, CancellationToken, Task<T>> work, CancellationToken cancellationToken, Action<bool>? completed = null)
    {
        ArgumentNullException.ThrowIfNull(work);
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
            if (_checkpointWanted)
            {
                // Best effort: SQLITE_BUSY (another checkpoint is running) leaves it to the next request.
                _checkpointWanted = false;
                SqliteRaw.Checkpoint(connection);
            }

            T result;
            try
            {
                // deferred: false is BEGIN IMMEDIATE: the write lock is taken here, not at the first write.
                await using var tx = connection.BeginTransaction(deferred: false);
                result = await work(connection, tx, cancellationToken).ConfigureAwait(false);
                if (SqliteRaw.HasMoved(connection))
                {
                    // One stat() of the path per transaction. Committed into a file that is no longer at
                    // its path, an acknowledged event would be lost with the process: roll back, fail.
                    throw new IOException($"The database file {new SqliteConnectionStringBuilder(connectionString).DataSource} was deleted or moved while open; nothing was committed. Put it back, or restart Switchboard.");
                }

                await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                completed?.Invoke(false);

                // Not back to the pool: the next write starts on a fresh handle.
                SqliteFiles.Discard(connection);
                _connection = null;
                throw;
            }

            // Outside the catch: a committed transaction is never reported as rolled back.
            completed?.Invoke(true);
            return result;
        }
        finally
        {
            _lock.Release();
        }
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        if (_connection is not null)
        {
            return _connection;
        }

        // Switchboard's connection strings never create the file (SqliteFiles.ConnectionString): one
        // deleted under the running server is not replaced by an empty one; writes fail until it is back.
        var connection = new SqliteConnection(connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var pragma = connection.CreateCommand();
            pragma.CommandText = pragmas;
            await pragma.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            SqliteFiles.Discard(connection);
            throw;
        }

        _connection = connection;
        return connection;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        // Idempotent: one store can be registered under two service types, and each disposes it.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_connection is not null)
            {
                SqliteFiles.Discard(_connection);
                _connection = null;
            }
        }
        finally
        {
            _lock.Release();
            _lock.Dispose();
        }

        SqliteConnection.ClearPool(new SqliteConnection(connectionString));
    }
}
