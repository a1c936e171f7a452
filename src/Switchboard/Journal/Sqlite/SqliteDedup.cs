using Microsoft.Data.Sqlite;
using SQLitePCL;
using Switchboard.Storage;

namespace Switchboard.Journal.Sqlite;

/// <summary>
/// Which dedup keys the SQLite journal already holds, without a unique index on <c>events</c>.
/// </summary>
/// <remarks>
/// <para>
/// Why: a dedup key is a second and a hash (<c>JournalBody.DedupKey</c>), so within a second the keys
/// of a flood are random, and a unique index on them put every event of a commit on its own index
/// page. Measured under the benchmark's flood: 26 WAL frames (106 KiB) per commit of ~21 events,
/// about 18 of them index pages, against ~7 for the rows themselves.
/// </para>
/// <para>
/// How: every key lives in one of two places. Keys of rows up to <c>dedup_through</c> (a row of
/// <c>meta</c>) are in the <c>event_dedup</c> table, keyed by the dedup key; keys of later rows are in
/// memory here. Once enough have gathered they go into <c>event_dedup</c> in one sorted insert, in the
/// same transaction as a batch of events, and <c>dedup_through</c> moves with them: a thousand keys
/// share the index pages of their second instead of dirtying one page each. A lookup asks memory
/// first, then <c>event_dedup</c>.
/// </para>
/// <para>
/// Why it holds: every method runs inside a write transaction (<c>BEGIN IMMEDIATE</c>), and SQLite
/// has one writer at a time, so nothing can be appended between a lookup and the insert that follows.
/// Each appending transaction first reads the highest id in <c>events</c>: rows another process appended (the
/// CLI, a second server on the same file) are loaded here before any lookup, from the later of this
/// connection's last row and <c>dedup_through</c> (rows up to it are in <c>event_dedup</c>). A crash loses only the
/// memory: at start (<see cref="RecoverAsync"/>) every row after <c>dedup_through</c> is put into
/// <c>event_dedup</c>. Keys of a transaction that rolls back are forgotten with it.
/// </para>
/// <para>
/// Journals created with a unique index on <c>events.dedup_key</c> (before this) do not use
/// <c>event_dedup</c>; see
/// <c>SqliteJournalStore</c>. A journal created by this version cannot be written by an older one
/// (its <c>ON CONFLICT (dedup_key)</c> names an index the file no longer has).
/// </para>
/// </remarks>
internal sealed class SqliteDedup(int flushKeys)
{
    /// <summary>Keys gathered in memory before they are written to <c>event_dedup</c> together.</summary>
    internal const int DefaultFlushKeys = 1024;

    /// <summary>The statements that create the dedup table and its high-water mark (idempotent).</summary>
    public const string Schema = """
        CREATE TABLE IF NOT EXISTS event_dedup (dedup_key TEXT PRIMARY KEY, id INTEGER NOT NULL) WITHOUT ROWID;
        INSERT INTO meta (key, value) VALUES ('dedup_through', '0') ON CONFLICT (key) DO NOTHING;
        """;

    // Committed rows after dedup_through: key → id.
    private readonly Dictionary<string, long> _unflushed = new(StringComparer.Ordinal);

    // Rows inserted by the open transaction.
    private readonly Dictionary<string, long> _pending = new(StringComparer.Ordinal);

    // Every row up to this id has its key in event_dedup or in _unflushed.
    private long _knownMaxId;
    private bool _syncedThisTransaction;
    private bool _flushedThisTransaction;

    // The event_dedup lookup, prepared once per transaction by Prepare and finalized when it ends.
    private sqlite3_stmt? _lookup;

    /// <summary>
    /// At start, in the initialising transaction: every row after <c>dedup_through</c> (the rows of a
    /// run that crashed before writing its keys, or every row of a journal from before this table)
    /// gets its key into <c>event_dedup</c>.
    /// </summary>
    public async Task RecoverAsync(SqliteConnection connection, SqliteTransaction tx, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(connection);
        await using var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = Schema + """
            INSERT INTO event_dedup (dedup_key, id)
                SELECT dedup_key, MIN(id) FROM events
                WHERE id > (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'dedup_through')
                GROUP BY dedup_key
                ORDER BY dedup_key
                ON CONFLICT (dedup_key) DO NOTHING;
            UPDATE meta SET value = (SELECT CAST(COALESCE(MAX(id), 0) AS TEXT) FROM events) WHERE key = 'dedup_through';
            SELECT COALESCE(MAX(id), 0) FROM events;
            """;
        _knownMaxId = Convert.ToInt64(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
        _unflushed.Clear();
        _pending.Clear();
    }

    /// <summary>A write transaction begins.</summary>
    public void Begin()
    {
        ReleaseLookup();
        _pending.Clear();
        _syncedThisTransaction = false;
        _flushedThisTransaction = false;
    }

    /// <summary>The transaction committed (true) or rolled back (false).</summary>
    public void Completed(bool committed)
    {
        if (committed)
        {
            if (_flushedThisTransaction)
            {
                _unflushed.Clear();
            }

            foreach (var (key, id) in _pending)
            {
                _unflushed[key] = id;
                _knownMaxId = Math.Max(_knownMaxId, id);
            }
        }

        _pending.Clear();
        _flushedThisTransaction = false;
        ReleaseLookup();
    }

    private void ReleaseLookup()
    {
        _lookup?.Dispose();
        _lookup = null;
    }

    /// <summary>
    /// Called first in each appending transaction: loads the keys of rows another connection appended,
    /// and writes the keys in memory to <c>event_dedup</c> once there are enough of them.
    /// </summary>
    public void Prepare(sqlite3 db)
    {
        if (_syncedThisTransaction)
        {
            return;
        }

        _syncedThisTransaction = true;
        SqliteRaw.Check(db, raw.sqlite3_prepare_v2(db, "SELECT id FROM event_dedup WHERE dedup_key = ?1", out var lookup));
        _lookup = lookup;
        if (ScalarInt64(db, "SELECT COALESCE(MAX(id), 0) FROM events") > _knownMaxId)
        {
            // Another connection appended. Rows up to its dedup_through have their keys in event_dedup
            // already (whoever moved it flushed them), so only rows after it are loaded: a second process
            // that flushes keeps this one from reading back everything it appended, with the write lock held.
            var through = ScalarInt64(db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'dedup_through'");
            if (through > _knownMaxId)
            {
                ForgetThrough(through);
            }

            LoadAfter(db, _knownMaxId);
        }

        if (_unflushed.Count >= flushKeys)
        {
            Flush(db);
        }
    }

    /// <summary>
    /// The id of the row with this key, if the journal holds one (this transaction's rows included).
    /// <see cref="Prepare"/> first, in the same transaction.
    /// </summary>
    public bool TryFind(sqlite3 db, string key, out long id) =>
        _pending.TryGetValue(key, out id) || _unflushed.TryGetValue(key, out id)
        || Lookup(db, _lookup ?? throw new InvalidOperationException("SqliteDedup.Prepare was not called in this transaction."), key, out id);

    /// <summary>A row was inserted by the open transaction.</summary>
    public void Inserted(string key, long id) => _pending[key] = id;

    private static bool Lookup(sqlite3 db, sqlite3_stmt stmt, string key, out long id)
    {
        SqliteRaw.BindText(db, stmt, 1, key);
        var rc = raw.sqlite3_step(stmt);
        id = rc == raw.SQLITE_ROW ? raw.sqlite3_column_int64(stmt, 0) : 0;
        raw.sqlite3_reset(stmt);
        if (rc is not (raw.SQLITE_ROW or raw.SQLITE_DONE))
        {
            SqliteRaw.Check(db, rc);
        }

        return rc == raw.SQLITE_ROW;
    }

    /// <summary>Rows another connection appended that this one read into memory (tests: it stays small).</summary>
    internal long RowsLoadedFromOthers { get; private set; }

    private static long ScalarInt64(sqlite3 db, string sql)
    {
        SqliteRaw.Check(db, raw.sqlite3_prepare_v2(db, sql, out var stmt));
        using (stmt)
        {
            SqliteRaw.Check(db, raw.sqlite3_step(stmt));
            return raw.sqlite3_column_int64(stmt, 0);
        }
    }

    // Every row up to `through` has its key in event_dedup: memory need not hold them any longer.
    private void ForgetThrough(long through)
    {
        foreach (var (key, id) in _unflushed)
        {
            if (id <= through)
            {
                _unflushed.Remove(key);
            }
        }

        _knownMaxId = through;
    }

    // Rows committed by another connection since this one last looked: committed already, so they go
    // straight to _unflushed whatever becomes of this transaction.
    private void LoadAfter(sqlite3 db, long after)
    {
        SqliteRaw.Check(db, raw.sqlite3_prepare_v2(db, "SELECT id, dedup_key FROM events WHERE id > ?1 ORDER BY id", out var stmt));
        using (stmt)
        {
            SqliteRaw.BindInt64(db, stmt, 1, after);
            int rc;
            while ((rc = raw.sqlite3_step(stmt)) == raw.SQLITE_ROW)
            {
                var id = raw.sqlite3_column_int64(stmt, 0);
                _unflushed.TryAdd(raw.sqlite3_column_text(stmt, 1).utf8_to_string(), id);
                _knownMaxId = Math.Max(_knownMaxId, id);
                RowsLoadedFromOthers++;
            }

            SqliteRaw.Check(db, rc);
        }
    }

    // Sorted, so the keys of one second fill its pages in order. DO NOTHING: another process may have
    // written the same rows' keys (it loaded them too). dedup_through only moves forward.
    private void Flush(sqlite3 db)
    {
        SqliteRaw.Check(db, raw.sqlite3_prepare_v2(db, "INSERT INTO event_dedup (dedup_key, id) VALUES (?1, ?2) ON CONFLICT (dedup_key) DO NOTHING", out var insert));
        using (insert)
        {
            foreach (var (key, id) in _unflushed.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                SqliteRaw.BindText(db, insert, 1, key);
                SqliteRaw.BindInt64(db, insert, 2, id);
                SqliteRaw.Step(db, insert);
            }
        }

        SqliteRaw.Check(db, raw.sqlite3_prepare_v2(db, "UPDATE meta SET value = CAST(MAX(CAST(value AS INTEGER), ?1) AS TEXT) WHERE key = 'dedup_through'", out var through));
        using (through)
        {
            SqliteRaw.BindInt64(db, through, 1, _knownMaxId);
            SqliteRaw.Step(db, through);
        }

        _flushedThisTransaction = true;
    }
}
