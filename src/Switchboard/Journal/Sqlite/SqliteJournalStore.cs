using System.Data.Common;
using Microsoft.Data.Sqlite;
using SQLitePCL;
using Switchboard.Storage;

namespace Switchboard.Journal.Sqlite;

/// <summary>
/// The default store: one SQLite file in the data directory. WAL so readers (the CLI, the dashboard)
/// never block the writer; <c>synchronous=FULL</c> so a commit is on disk (WAL fsynced) before
/// <see cref="SqlJournalStore.AppendAsync"/> returns — "acked means kept" survives power loss, not just a crash.
/// </summary>
/// <remarks>
/// One long-lived write connection behind a lock: SQLite allows one writer anyway, and keeping it open
/// keeps its prepared statements and per-connection pragmas. Write transactions are
/// <c>BEGIN IMMEDIATE</c> (Microsoft.Data.Sqlite's default for <c>BeginTransaction()</c>), so a
/// competing writer is met at BEGIN, where <c>busy_timeout</c> applies, not halfway through.
/// </remarks>
public sealed class SqliteJournalStore : SqlJournalStore
{
    private readonly string _connectionString;
    private readonly TimeSpan _busyTimeout;
    private readonly SqliteWriter _writer;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _checkpointer;

    /// <summary>
    /// WAL frames (4 KiB pages) past which the background checkpointer asks the writer to let the WAL
    /// start over: 16 MiB, about a quarter of a second of the benchmark's flood.
    /// </summary>
    internal const int DefaultWalRestartFrames = 4096;

    /// <summary>
    /// The writer's own safety net (SQLite's automatic checkpoint, run by the committing connection
    /// once the WAL holds this many frames): 64 MiB, reached only when the background checkpointer
    /// has not run for a while. Its checkpoint delays that commit's answers by the copy.
    /// </summary>
    internal const int DefaultWalMaxFrames = 16384;

    /// <summary>
    /// The size a WAL file is cut back to when it starts over. Below it the file is reused as it is
    /// (overwriting is cheaper than growing a file); a flood that outran the checkpoints leaves no
    /// more than this behind.
    /// </summary>
    internal const long WalSizeLimitBytes = 64L * 1024 * 1024;

    private readonly TimeSpan _checkpointInterval;
    private readonly int _walRestartFrames;
    private readonly SqliteDedup _dedup;

    // The single-event INSERT without ON CONFLICT: a new file has no unique index for it to name, and
    // every key is looked up before it is inserted (SqliteDedup).
    private static readonly string InsertEventNoConflictSql = InsertEventSql.Replace("ON CONFLICT (dedup_key) DO NOTHING", string.Empty, StringComparison.Ordinal);

    /// <summary>Opens (and creates, if missing) the journal file.</summary>
    /// <param name="path">The database file.</param>
    /// <param name="busyTimeout">How long a write waits for a lock held by another process before failing.</param>
    public SqliteJournalStore(string path, TimeSpan? busyTimeout = null)
        : this(path, busyTimeout, TimeSpan.FromMilliseconds(500), DefaultWalRestartFrames, DefaultWalMaxFrames)
    {
    }

    /// <summary>Opens the journal file with its checkpointing and dedup flushing tuned (tests).</summary>
    internal SqliteJournalStore(string path, TimeSpan? busyTimeout, TimeSpan checkpointInterval, int walRestartFrames, int walMaxFrames, int dedupFlushKeys = SqliteDedup.DefaultFlushKeys)
    {
        _dedup = new SqliteDedup(dedupFlushKeys);
        Path = System.IO.Path.GetFullPath(path);
        _busyTimeout = busyTimeout ?? TimeSpan.FromSeconds(5);
        _connectionString = SqliteFiles.ConnectionString(Path, _busyTimeout);
        _checkpointInterval = checkpointInterval;
        _walRestartFrames = walRestartFrames;

        // synchronous is per connection: FULL fsyncs the WAL at every commit. The automatic
        // checkpoint is only a safety net (the background checkpointer does the copying; see
        // CheckpointLoop). Memory-mapped reads: the writer re-reads the same index and table pages
        // every batch, and without a map each read is a pread copy from the kernel. (A larger cache_size was slower: SQLite walks the whole
        // page-cache hash on every commit to truncate it.) journal_size_limit: see WalSizeLimitBytes.
        _writer = new SqliteWriter(_connectionString,
            "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA mmap_size = 268435456; " +
            $"PRAGMA wal_autocheckpoint = {walMaxFrames}; PRAGMA journal_size_limit = {WalSizeLimitBytes};");
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    /// <inheritdoc/>
    public override string Kind => "sqlite";

    /// <inheritdoc/>
    // A rowid alias without AUTOINCREMENT: ids still only grow (journal rows are never deleted from
    // the top), and no sqlite_sequence row is rewritten on every commit.
    protected override string IdColumnDefinition => "INTEGER PRIMARY KEY";

    /// <inheritdoc/>
    protected override IReadOnlyList<string> SchemaStatements => SharedSchema;

    /// <inheritdoc/>
    // Journals created before SqliteDedup keep their unique index: correct (no copy ever reaches it),
    // only slower to write.
    protected override string DedupKeyConstraint => string.Empty;

    /// <inheritdoc/>
    protected override bool ChecksDuplicatesBeforeInsert => true;

    /// <inheritdoc/>
    protected override string InsertEventSqlText => InsertEventNoConflictSql;

    /// <inheritdoc/>
    protected override void OnInserted(string dedupKey, long id) => _dedup.Inserted(dedupKey, id);

    /// <inheritdoc/>
    protected override Task<Dictionary<string, long>> FindIdsAsync(DbConnection connection, DbTransaction tx, List<string> keys, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(keys);
        var db = ((SqliteConnection)connection).Handle!;
        _dedup.Prepare(db);
        var found = new Dictionary<string, long>(keys.Count, StringComparer.Ordinal);
        foreach (var key in keys)
        {
            if (_dedup.TryFind(db, null, key, out var id))
            {
                found[key] = id;
            }
        }

        return Task.FromResult(found);
    }

    /// <inheritdoc/>
    public override async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await SqliteFiles.PrepareAsync(Path, _connectionString, _busyTimeout, cancellationToken).ConfigureAwait(false);
        await base.InitializeAsync(cancellationToken).ConfigureAwait(false);
        await _writer.WriteAsync(async (connection, tx, ct) =>
        {
            await _dedup.RecoverAsync(connection, tx, ct).ConfigureAwait(false);
            return 0;
        }, cancellationToken).ConfigureAwait(false);
        // A thread of its own: a checkpoint blocks on the database file's fsync, which must not hold
        // one of the pool's threads (two on a two-core machine) while requests wait for them, and a
        // busy pool must not delay the checkpoints (a test saw the loop miss 750 ms of ticks).
        _checkpointer ??= Task.Factory.StartNew(() => CheckpointLoop(_stopping.Token), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>
    /// Copies the WAL back into the database file in the background. The writer's connection has
    /// automatic checkpoints off: otherwise every thousandth commit would also write and fsync the
    /// database file while requests wait for it. A PASSIVE checkpoint never blocks the writer.
    /// </summary>
    /// <remarks>
    /// Alone, it never lets the WAL start over while events keep coming: SQLite restarts the WAL only
    /// when a write transaction begins with every frame already copied, and a writer committing back to
    /// back has always added frames since the checkpoint began. Measured: 674 MB of WAL after 20 s of
    /// the benchmark's flood, and the file stays that size afterwards. So once the WAL holds more than
    /// <see cref="DefaultWalRestartFrames"/> frames the writer is asked to copy the remainder itself,
    /// between two transactions (<see cref="SqliteWriter.RequestCheckpoint"/>), and its next
    /// transaction starts the WAL from the top. Should this loop fall behind, the writer's automatic
    /// checkpoint at <see cref="DefaultWalMaxFrames"/> frames bounds the WAL all the same.
    /// </remarks>
    private void CheckpointLoop(CancellationToken stopping)
    {
        Thread.CurrentThread.Name = "Journal checkpointer";
        try
        {
            using var connection = new SqliteConnection(_connectionString);
            connection.Open();
            using var cmd = connection.CreateCommand();
            cmd.CommandText = "PRAGMA synchronous = FULL";
            cmd.ExecuteNonQuery();
            while (!stopping.WaitHandle.WaitOne(_checkpointInterval))
            {
                // Busy or unwritable: the next round tries again; commits do not depend on it.
                var (rc, walFrames, _) = SqliteRaw.Checkpoint(connection);
                if (rc == raw.SQLITE_OK && walFrames > _walRestartFrames)
                {
                    _writer.RequestCheckpoint();
                }
            }
        }
        catch (SqliteException)
        {
            // Could not even open a connection: the writer reports the store's health, not this loop.
        }
    }

    /// <summary>
    /// The hot path, one prepared statement stepped once per row and bound by position through
    /// SQLite's own API. Microsoft.Data.Sqlite binds parameters by name, and SQLite looks each name
    /// up by a linear search (sqlite3_bind_parameter_index), so a multi-row INSERT costs rows² to
    /// bind: measured at over half of the writer's time with 64-row batches. Each key is looked up
    /// first (<see cref="SqliteDedup"/>); only new ones are inserted.
    /// </summary>
    protected override Task<Dictionary<string, long>> InsertRowsAsync(DbConnection connection, DbTransaction tx, IReadOnlyList<JournalAppend> rows, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(rows);
        var db = ((SqliteConnection)connection).Handle!;
        _dedup.Prepare(db);
        var ids = new Dictionary<string, long>(rows.Count, StringComparer.Ordinal);
        SqliteRaw.Check(db, raw.sqlite3_prepare_v2(db, SqliteDedup.LookupSql, out var lookup));
        using (lookup)
        {
            SqliteRaw.Check(db, raw.sqlite3_prepare_v2(db, """
                INSERT INTO events (received_at, member_id, event_name, call_id, handler_id, sent_at, content_type, body, dedup_key)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                """, out var stmt));
            using (stmt)
            {
                foreach (var a in rows)
                {
                    if (_dedup.TryFind(db, lookup, a.DedupKey, out _))
                    {
                        continue; // a copy: the caller finds its id (FindIdsAsync)
                    }

                    SqliteRaw.BindInt64(db, stmt, 1, a.ReceivedAt.ToUnixTimeMilliseconds());
                    SqliteRaw.BindText(db, stmt, 2, a.MemberId);
                    SqliteRaw.BindText(db, stmt, 3, a.EventName);
                    SqliteRaw.BindText(db, stmt, 4, a.CallId);
                    SqliteRaw.BindInt64(db, stmt, 5, a.HandlerId);
                    SqliteRaw.BindInt64(db, stmt, 6, a.SentAt?.ToUnixTimeMilliseconds());
                    SqliteRaw.BindText(db, stmt, 7, a.ContentType);
                    SqliteRaw.BindText(db, stmt, 8, a.Body);
                    SqliteRaw.BindText(db, stmt, 9, a.DedupKey);
                    SqliteRaw.Step(db, stmt);
                    var id = raw.sqlite3_last_insert_rowid(db);
                    ids[a.DedupKey] = id;
                    _dedup.Inserted(a.DedupKey, id);
                }
            }
        }

        return Task.FromResult(ids);
    }

    /// <inheritdoc/>
    protected override async ValueTask<DbConnection> OpenReadConnectionAsync(CancellationToken cancellationToken) =>
        await SqliteFiles.OpenAsync(_connectionString, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc/>
    // The dedup state follows each transaction: begun here, kept or forgotten when it commits or rolls back.
    protected override Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, CancellationToken, Task<T>> work, CancellationToken cancellationToken) =>
        _writer.WriteAsync(
            (connection, tx, ct) =>
            {
                _dedup.Begin();
                return work(connection, tx, ct);
            },
            cancellationToken,
            _dedup.Completed);

    /// <inheritdoc/>
    public override async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_checkpointer is not null)
        {
            await _checkpointer.ConfigureAwait(false);
        }

        _stopping.Dispose();
        await _writer.DisposeAsync().ConfigureAwait(false);
    }
}
