using Microsoft.Data.Sqlite;

namespace Switchboard.Storage;

/// <summary>How Switchboard opens a SQLite file: one connection-string shape, WAL set once on the file, pooled readers.</summary>
public static class SqliteFiles
{
    /// <summary>
    /// Read-write, private cache, pooled; <paramref name="busyTimeout"/> is how long a command waits for a
    /// lock. Never creates the file (<see cref="PrepareAsync"/> does, once, at start): a file deleted or
    /// moved under a running server must not be replaced by an empty one by the next connection that opens
    /// it (a reader, the checkpointer), which would also make SQLite drop the <c>-wal</c> left at the path.
    /// </summary>
    public static string ConnectionString(string path, TimeSpan busyTimeout) => new SqliteConnectionStringBuilder
    {
        DataSource = path,
        Mode = SqliteOpenMode.ReadWrite,
        Cache = SqliteCacheMode.Private,
        Pooling = true,
        DefaultTimeout = (int)Math.Ceiling(busyTimeout.TotalSeconds),
    }.ToString();

    /// <summary>
    /// Creates the folder (0700) and the file (0600), and puts the file in WAL mode (a property of the
    /// file that sticks once set). SQLite gives the <c>-wal</c> and <c>-shm</c> it creates the main
    /// file's mode (os_unix.c, <c>findCreateFileMode</c>), so an empty file made here 0600 (SQLite reads
    /// an empty file as an empty database) keeps all three private; files left 0644 by an earlier build
    /// are narrowed.
    /// </summary>
    /// <param name="path">The database file.</param>
    /// <param name="connectionString">Its connection string (Switchboard's never create the file; this does).</param>
    /// <param name="busyTimeout">How long to wait for another connection's lock.</param>
    /// <param name="cancellationToken">Cancels opening.</param>
    /// <param name="pageSize">The page size of a file created now; a file that already has pages keeps
    /// its own (SQLite fixes it at the first write, and a WAL-mode file cannot change it).</param>
    public static async Task PrepareAsync(string path, string connectionString, TimeSpan busyTimeout, CancellationToken cancellationToken, int? pageSize = null)
    {
        var directory = Path.GetDirectoryName(path);
        if (!string.IsNullOrEmpty(directory))
        {
            PrivateFiles.CreateFolder(directory);
        }

        PrivateFiles.CreateFile(path);
        PrivateFiles.Restrict(path + "-wal");
        PrivateFiles.Restrict(path + "-shm");

        var create = new SqliteConnectionStringBuilder(connectionString) { Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false };
        await using var connection = new SqliteConnection(create.ToString());
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var wal = connection.CreateCommand();
        wal.CommandText = $"PRAGMA busy_timeout = {(int)busyTimeout.TotalMilliseconds}; " +
            (pageSize is { } size ? $"PRAGMA page_size = {size}; " : string.Empty) +
            "PRAGMA journal_mode = WAL;";
        await wal.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Closes a connection for good: cleared from Microsoft.Data.Sqlite's pool first, since a disposed
    /// pooled connection goes back to the pool and is handed out again as it is (after a failure, its
    /// state cannot be trusted; at shutdown, the <c>-wal</c> and <c>-shm</c> go only when the last handle closes).
    /// </summary>
    public static void Discard(SqliteConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        SqliteConnection.ClearPool(connection);
        connection.Dispose();
    }

    /// <summary>An open pooled connection for reading.</summary>
    public static async ValueTask<SqliteConnection> OpenAsync(string connectionString, CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
