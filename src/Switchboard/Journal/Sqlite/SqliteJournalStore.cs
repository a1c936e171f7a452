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
    private int _disposed;
    private long _walFrames;

    /// <summary>
    /// WAL frames (4 KiB pages) past which the background checkpointer asks the writer to let the WAL
    /// start over: 16 MiB, about a second of the benchmark's flood (1.6 KB of WAL per event).
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
    private long _checkpointFailures;

    // The single-event INSERT without ON CONFLICT: a new file has no unique index for it to name, and
    // every key is looked up before it is inserted (SqliteDedup).
    private static readonly string InsertEventNoConflictSql = WithoutConflictClause(InsertEventSql);

    // A journal created before event_dedup: its events table has a unique index on dedup_key, which
    // SQLite cannot drop in place. Such a file keeps the way it was written (ON CONFLICT DO NOTHING on
    // that index): copying every key into event_dedup would hold the write lock at start for as long as
    // the journal is large, and it would then pay for both. Set by InitializeAsync.
    private volatile bool _uniqueIndexOnEvents;

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

    /// <summary>Rows appended by another connection whose keys this store read into memory (tests).</summary>
    internal long DedupRowsLoadedFromOthers => _dedup.RowsLoadedFromOthers;

    /// <summary>Frames in the WAL at the background checkpointer's last round (0 before the first).</summary>
    public long WalFrames => Interlocked.Read(ref _walFrames);

    /// <summary>
    /// The <c>-wal</c> file's size: the longest the log has been since it was created, cut back to
    /// <see cref="WalSizeLimitBytes"/> when it starts over; 0 when there is none.
    /// </summary>
    public long WalFileBytes
    {
        get
        {
            var wal = new FileInfo(Path + "-wal");
            return wal.Exists ? wal.Length : 0;
        }
    }

    /// <inheritdoc/>
    public override string Kind => "sqlite";

    /// <inheritdoc/>
    // A rowid alias without AUTOINCREMENT: ids still only grow (journal rows are never deleted from
    // the top), and no sqlite_sequence row is rewritten on every commit.
    protected override string IdColumnDefinition => "INTEGER PRIMARY KEY";

    /// <inheritdoc/>
    protected override IReadOnlyList<string> SchemaStatements => SharedSchema;

    /// <inheritdoc/>
    // New files: no unique index on events; the keys are in event_dedup (SqliteDedup). Older files keep
    // theirs (see _uniqueIndexOnEvents).
    protected override string DedupKeyConstraint => string.Empty;

    /// <inheritdoc/>
    protected override bool ChecksDuplicatesBeforeInsert => !_uniqueIndexOnEvents;

    /// <inheritdoc/>
    protected override string InsertEventSqlText => _uniqueIndexOnEvents ? InsertEventSql : InsertEventNoConflictSql;

    /// <inheritdoc/>
    protected override void OnInserted(string dedupKey, long id)
    {
        if (!_uniqueIndexOnEvents)
        {
            _dedup.Inserted(dedupKey, id);
        }
    }

    /// <inheritdoc/>
    protected override Task<Dictionary<string, long>> FindIdsAsync(DbConnection connection, DbTransaction tx, List<string> keys, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(keys);
        if (_uniqueIndexOnEvents)
        {
            return base.FindIdsAsync(connection, tx, keys, ct);
        }

        var db = ((SqliteConnection)connection).Handle!;
        _dedup.Prepare(db);
        var found = new Dictionary<string, long>(keys.Count, StringComparer.Ordinal);
        foreach (var key in keys)
        {
            if (_dedup.TryFind(db, key, out var id))
            {
                found[key] = id;
            }
        }

        return Task.FromResult(found);
    }

    private static string WithoutConflictClause(string sql)
    {
        var without = sql.Replace("ON CONFLICT (dedup_key) DO NOTHING", string.Empty, StringComparison.Ordinal);
        return without != sql ? without : throw new InvalidOperationException("The journal's INSERT no longer names ON CONFLICT (dedup_key) DO NOTHING; update SqliteJournalStore.");
    }

    /// <inheritdoc/>
    public override async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await SqliteFiles.PrepareAsync(Path, _connectionString, _busyTimeout, cancellationToken).ConfigureAwait(false);
        await base.InitializeAsync(cancellationToken).ConfigureAwait(false);
        _uniqueIndexOnEvents = await _writer.WriteAsync(async (connection, tx, ct) =>
        {
            await using var probe = connection.CreateCommand();
            probe.Transaction = tx;
            probe.CommandText = """
                SELECT COUNT(*) FROM pragma_index_list('events') AS l JOIN pragma_index_info(l.name) AS c
                WHERE l."unique" = 1 AND c.name = 'dedup_key'
                """;
            if (Convert.ToInt64(await probe.ExecuteScalarAsync(ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture) > 0)
            {
                return true;
            }

            await _dedup.RecoverAsync(connection, tx, ct).ConfigureAwait(false);
            return false;
        }, cancellationToken).ConfigureAwait(false);
        // A thread of its own: a checkpoint blocks on the database file's fsync, which must not hold
        // one of the pool's threads (two on a two-core machine) while requests wait for them, and a
        // busy pool must not delay the checkpoints (a test saw the loop miss 750 ms of ticks).
        _checkpointer ??= Task.Factory.StartNew(() => CheckpointLoop(_stopping.Token), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>
    /// Copies the WAL back into the database file in the background. SQLite's own automatic checkpoint
    /// (the committing connection copies the WAL every thousand pages) would make requests wait for
    /// those copies and the database file's fsync; the writer's is only a safety net, far above that.
    /// A PASSIVE checkpoint never blocks the writer.
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
        SqliteConnection? connection = null;
        try
        {
            while (!stopping.WaitHandle.WaitOne(_checkpointInterval))
            {
                try
                {
                    connection ??= OpenCheckpointConnection();
                    if (SqliteRaw.HasMoved(connection))
                    {
                        // The file was deleted or renamed: checkpointing the open one would copy the log
                        // into a file nobody reads. Counted, and a new connection next round (which fails
                        // until the file is back: connections never create it).
                        CheckpointFailed("The journal file was deleted or moved while Switchboard had it open.");
                        DiscardCheckpointConnection(ref connection);
                        continue;
                    }

                    // Busy: the next round tries again; commits do not depend on it. Any other error (the
                    // file gone, unreadable): a new connection next round.
                    var (rc, walFrames, _) = SqliteRaw.Checkpoint(connection);
                    if (rc == raw.SQLITE_OK)
                    {
                        Interlocked.Exchange(ref _walFrames, walFrames);
                        if (walFrames > _walRestartFrames)
                        {
                            _writer.RequestCheckpoint();
                        }
                    }
                    else if (rc != raw.SQLITE_BUSY)
                    {
                        CheckpointFailed(raw.sqlite3_errstr(rc).utf8_to_string());
                        DiscardCheckpointConnection(ref connection);
                    }
                }
                catch (SqliteException ex)
                {
                    // Could not open the file (gone, unreadable): the writer reports the store's
                    // health; this loop counts it (/metrics) and tries again next round on a new connection.
                    CheckpointFailed(ex.Message);
                    DiscardCheckpointConnection(ref connection);
                }
            }
        }
        finally
        {
            connection?.Dispose();
        }
    }

    /// <summary>Background checkpoints that failed (not those skipped because the writer was busy) since start.</summary>
    public long CheckpointFailures => Interlocked.Read(ref _checkpointFailures);

    /// <summary>Why the last background checkpoint failed (SQLite's message), or null if none has.</summary>
    public string? LastCheckpointError { get; private set; }

    private void CheckpointFailed(string error)
    {
        LastCheckpointError = error;
        Interlocked.Increment(ref _checkpointFailures);
    }

    private static void DiscardCheckpointConnection(ref SqliteConnection? connection)
    {
        if (connection is not null)
        {
            SqliteFiles.Discard(connection);
            connection = null;
        }
    }

    private SqliteConnection OpenCheckpointConnection()
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            connection.Open();
            using var cmd = connection.CreateCommand();
            cmd.CommandText = "PRAGMA synchronous = FULL";
            cmd.ExecuteNonQuery();
            return connection;
        }
        catch
        {
            SqliteFiles.Discard(connection);
            throw;
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
        if (_uniqueIndexOnEvents)
        {
            return Task.FromResult(InsertRowsOnConflict(db, rows));
        }

        _dedup.Prepare(db);
        var ids = new Dictionary<string, long>(rows.Count, StringComparer.Ordinal);
        SqliteRaw.Check(db, raw.sqlite3_prepare_v2(db, """
            INSERT INTO events (received_at, member_id, event_name, call_id, handler_id, sent_at, content_type, body, dedup_key)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
            """, out var stmt));
        using (stmt)
        {
            foreach (var a in rows)
            {
                if (_dedup.TryFind(db, a.DedupKey, out _))
                {
                    continue; // a copy: the caller finds its id (FindIdsAsync)
                }

                BindEvent(db, stmt, a);
                SqliteRaw.Step(db, stmt);

                // One row or a failure: an INSERT that changed nothing (a trigger's IGNORE) must not
                // be answered with the previous row's id.
                if (raw.sqlite3_changes(db) != 1)
                {
                    throw new SqliteException("The journal's INSERT stored no row.", raw.SQLITE_CONSTRAINT);
                }

                var id = raw.sqlite3_last_insert_rowid(db);
                ids[a.DedupKey] = id;
                _dedup.Inserted(a.DedupKey, id);
            }
        }

        return Task.FromResult(ids);
    }

    // Journals with the unique index on events (see _uniqueIndexOnEvents): the key is checked by the
    // INSERT itself; DO NOTHING on a known key changes no row, and the caller looks its id up.
    private static Dictionary<string, long> InsertRowsOnConflict(sqlite3 db, IReadOnlyList<JournalAppend> rows)
    {
        var ids = new Dictionary<string, long>(rows.Count, StringComparer.Ordinal);
        SqliteRaw.Check(db, raw.sqlite3_prepare_v2(db, """
            INSERT INTO events (received_at, member_id, event_name, call_id, handler_id, sent_at, content_type, body, dedup_key)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
            ON CONFLICT (dedup_key) DO NOTHING
            """, out var stmt));
        using (stmt)
        {
            foreach (var a in rows)
            {
                BindEvent(db, stmt, a);
                SqliteRaw.Step(db, stmt);
                if (raw.sqlite3_changes(db) == 1)
                {
                    ids[a.DedupKey] = raw.sqlite3_last_insert_rowid(db);
                }
            }
        }

        return ids;
    }

    private static void BindEvent(sqlite3 db, sqlite3_stmt stmt, JournalAppend a)
    {
        SqliteRaw.BindInt64(db, stmt, 1, a.ReceivedAt.ToUnixTimeMilliseconds());
        SqliteRaw.BindText(db, stmt, 2, a.MemberId);
        SqliteRaw.BindText(db, stmt, 3, a.EventName);
        SqliteRaw.BindText(db, stmt, 4, a.CallId);
        SqliteRaw.BindInt64(db, stmt, 5, a.HandlerId);
        SqliteRaw.BindInt64(db, stmt, 6, a.SentAt?.ToUnixTimeMilliseconds());
        SqliteRaw.BindText(db, stmt, 7, a.ContentType);
        SqliteRaw.BindUtf8(db, stmt, 8, a.Body.Span);
        SqliteRaw.BindText(db, stmt, 9, a.DedupKey);
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
    // Idempotent: one store can be registered under two service types, and each disposes it.
    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        try
        {
            await _stopping.CancelAsync().ConfigureAwait(false);
            if (_checkpointer is not null)
            {
                await _checkpointer.ConfigureAwait(false);
            }
        }
        finally
        {
            _stopping.Dispose();
            await _writer.DisposeAsync().ConfigureAwait(false);
        }
    }
}
