using System.Data.Common;
using Switchboard.Bitrix24.Events;
using Switchboard.Journal;
using Switchboard.Outbox;
using static Switchboard.Storage.Sql;

namespace Switchboard.Calls;

/// <summary>What one <see cref="SqlCallStore.FoldAsync"/> did.</summary>
/// <param name="Events">Events folded.</param>
/// <param name="Calls">Call records written.</param>
/// <param name="Commands">Outbox commands that were new.</param>
/// <param name="Conflict">True when the cursor had moved (another instance folded these rows): nothing written.</param>
public sealed record LedgerPass(int Events, int Calls, int Commands, bool Conflict);

/// <summary>A call record as listed.</summary>
public sealed record StoredCall(CallRecord Record, DateTimeOffset UpdatedAt);

/// <summary>
/// The call ledger's rows: one row per CALL_ID holding the
/// <see cref="CallRecord"/> as JSON, and a cursor saying how far the journal has been folded in.
/// Every change to a record, the outbox commands it causes and the cursor move commit in ONE
/// transaction (RELIABILITY promise 2): after a crash the journal is folded again from the cursor and
/// nothing is lost; a command is keyed by its idempotency key, so nothing is sent twice either.
/// </summary>
/// <remarks>
/// SQLite and PostgreSQL share this SQL. The ledger lives with the outbox (on SQLite in its own file,
/// <c>ledger.db</c>, so its writes never wait for the journal's or make the journal wait); it reads the
/// journal through <see cref="Journal.IJournalStore.ReadAfterAsync"/>. On PostgreSQL several instances
/// may fold: the cursor row is read <c>FOR UPDATE</c> and must still be where the caller found it, so
/// each journal row is folded once; a record is read <c>FOR UPDATE</c>, so a manual finish and a pass
/// never overwrite each other.
/// </remarks>
public abstract partial class SqlCallStore(IOutboxStore outbox) : IAsyncDisposable
{
    private const string CursorName = "journal";

    /// <summary>The calls table as of schema version 2, named <c>{Name}</c>.</summary>
    /// <remarks>
    /// Keyed by <see cref="CallKey"/> (registration time, then CALL_ID) and the portal: new calls are
    /// written at the end of the key order, and a lookup by CALL_ID alone (for people, who rarely know
    /// the portal) uses the key's prefix, so no second index on the CALL_ID is needed.
    /// </remarks>
    private const string CallsTable = """
        CREATE TABLE IF NOT EXISTS {Name} (
            call_key     TEXT NOT NULL,
            member_id    TEXT NOT NULL,
            call_id      TEXT NOT NULL,
            record       TEXT NOT NULL,
            requested_at BIGINT,
            ended_at     BIGINT,
            updated_at   BIGINT NOT NULL,
            PRIMARY KEY (call_key, member_id))
        """;

    /// <summary>The schema version this code writes; older ledgers are migrated at start.</summary>
    private const int SchemaVersion = 2;

    /// <summary>
    /// The version of the ledger's and the outbox's tables, for migrations (the journal's are in
    /// SqlJournalStore). Version 1 was the first released form; 2 keys calls by CallKey. Created before
    /// the version is read, so not part of <see cref="Schema"/>.
    /// </summary>
    private const string MetaTable = "CREATE TABLE IF NOT EXISTS ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)";

    private static IEnumerable<string> Schema =>
    [
        CallsTableNamed("calls"),
        "CREATE INDEX IF NOT EXISTS calls_updated ON calls (updated_at)",
        // The calls still open, for the PBX connector's reconciliation after every (re)connect.
        "CREATE INDEX IF NOT EXISTS calls_open ON calls (member_id) WHERE ended_at IS NULL",
        PbxLeasesTable,
        "CREATE TABLE IF NOT EXISTS ledger_cursor (name TEXT PRIMARY KEY, position BIGINT NOT NULL)",
        $"INSERT INTO ledger_cursor (name, position) VALUES ('{CursorName}', 0) ON CONFLICT (name) DO NOTHING",
    ];

    // On SQLite a rowid table with its key in an index: rows (most of the bytes) are appended in
    // arrival order, and only the small index entries are placed by key. (WITHOUT ROWID, placing the
    // ~500-byte rows themselves by key, wrote more pages per fold.)
    private static string CallsTableNamed(string name) => CallsTable.Replace("{Name}", name, StringComparison.Ordinal);

    /// <summary>Inserts or updates one call; parameters in this order (SQLite numbers them so).</summary>
    protected const string UpsertSql = """
        INSERT INTO calls (call_key, member_id, call_id, record, requested_at, ended_at, updated_at)
        VALUES (@call_key, @member_id, @call_id, @record, CAST(@requested_at AS BIGINT), CAST(@ended_at AS BIGINT), @updated_at)
        ON CONFLICT (call_key, member_id) DO UPDATE SET record = excluded.record,
            requested_at = excluded.requested_at, ended_at = excluded.ended_at, updated_at = excluded.updated_at
        """;

    /// <summary>Schema statements before the shared ones (PostgreSQL: the schema lock).</summary>
    protected virtual IReadOnlyList<string> SchemaPreamble => [];

    /// <summary>The row lock for read-modify-write; none where the transaction is the only writer.</summary>
    protected virtual string ForUpdateClause => string.Empty;

    /// <summary>Opens a connection for reading.</summary>
    protected abstract ValueTask<DbConnection> OpenReadConnectionAsync(CancellationToken cancellationToken);

    /// <summary>Runs <paramref name="work"/> in a write transaction and commits it durably.</summary>
    protected abstract Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, CancellationToken, Task<T>> work, CancellationToken cancellationToken);

    /// <summary>Creates the tables if missing, and migrates a ledger of an older schema version.</summary>
    /// <remarks>The journal's and the outbox's schemas must exist first.</remarks>
    public virtual Task InitializeAsync(CancellationToken cancellationToken) =>
        WriteAsync(async (connection, tx, ct) =>
        {
            await ExecuteAllAsync(connection, tx, SchemaPreamble, ct).ConfigureAwait(false);

            await ExecuteAllAsync(connection, tx, [MetaTable], ct).ConfigureAwait(false);

            int? version;
            await using (var read = Command(connection, tx, "SELECT value FROM ledger_meta WHERE key = 'schema_version'"))
            {
                version = await read.ExecuteScalarAsync(ct).ConfigureAwait(false) is string v ? int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : null;
            }

            if (version > SchemaVersion)
            {
                throw new InvalidOperationException($"The ledger's schema is version {version}, newer than this Switchboard understands ({SchemaVersion}); run the newer Switchboard.");
            }

            // A ledger from before ledger_meta (never released: the table came in the same landing as
            // the calls table) would otherwise be stamped 2 without its calls table migrated.
            if (version is null && await CallsTableExistsAsync(connection, tx, ct).ConfigureAwait(false))
            {
                version = 1;
            }

            if (version == 1)
            {
                await MigrateFromVersion1Async(connection, tx, ct).ConfigureAwait(false);
            }

            await ExecuteAllAsync(connection, tx, Schema, ct).ConfigureAwait(false);

            await using (var stamp = Command(connection, tx, """
                INSERT INTO ledger_meta (key, value) VALUES ('schema_version', @v)
                ON CONFLICT (key) DO UPDATE SET value = excluded.value
                """))
            {
                Add(stamp, "v", SchemaVersion.ToString(System.Globalization.CultureInfo.InvariantCulture));
                await stamp.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            return 0;
        }, cancellationToken);

    /// <summary>
    /// Version 1 keyed calls by (portal, CALL_ID) with a second index on the CALL_ID. The rows are
    /// copied into a table keyed by <see cref="CallKey"/> (computed here, not in SQL, so both dialects
    /// get the same keys), inside the initialising transaction: a crash midway leaves version 1 intact.
    /// </summary>
    private async Task MigrateFromVersion1Async(DbConnection connection, DbTransaction tx, CancellationToken ct)
    {
        await using (var create = Command(connection, tx, CallsTableNamed("calls_v2")))
        {
            await create.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        await using (var copy = Command(connection, tx, """
            INSERT INTO calls_v2 (call_key, member_id, call_id, record, requested_at, ended_at, updated_at)
            VALUES (@call_key, @member_id, @call_id, @record, CAST(@requested_at AS BIGINT), CAST(@ended_at AS BIGINT), @updated_at)
            """))
        {
            var key = Add(copy, "call_key", string.Empty);
            var member = Add(copy, "member_id", string.Empty);
            var call = Add(copy, "call_id", string.Empty);
            var record = Add(copy, "record", string.Empty);
            var requested = Add(copy, "requested_at");
            var ended = Add(copy, "ended_at");
            var updated = Add(copy, "updated_at", 0L);

            // In chunks, in key order: one connection cannot step a reader while it writes on every
            // provider (Npgsql), and a large ledger should not be held in memory at once.
            var after = (Member: string.Empty, Call: string.Empty);
            while (true)
            {
                var rows = new List<(string Member, string Call, string Record, object Requested, object Ended, long Updated)>();
                await using (var read = Command(connection, tx, """
                    SELECT member_id, call_id, record, requested_at, ended_at, updated_at FROM calls
                    WHERE (member_id, call_id) > (@member, @call)
                    ORDER BY member_id, call_id LIMIT 5000
                    """))
                {
                    Add(read, "member", after.Member);
                    Add(read, "call", after.Call);
                    await using var r = await read.ExecuteReaderAsync(ct).ConfigureAwait(false);
                    while (await r.ReadAsync(ct).ConfigureAwait(false))
                    {
                        rows.Add((r.GetString(0), r.GetString(1), r.GetString(2), r.GetValue(3), r.GetValue(4), r.GetInt64(5)));
                    }
                }

                if (rows.Count == 0)
                {
                    break;
                }

                foreach (var row in rows)
                {
                    key.Value = CallKey.Of(row.Call);
                    member.Value = row.Member;
                    call.Value = row.Call;
                    record.Value = row.Record;
                    requested.Value = row.Requested;
                    ended.Value = row.Ended;
                    updated.Value = row.Updated;
                    await copy.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                after = (rows[^1].Member, rows[^1].Call);
            }
        }

        await ExecuteAllAsync(connection, tx, SwapCallsTables.Concat(AfterCallsRenamed), ct).ConfigureAwait(false);
    }

    private static readonly string[] SwapCallsTables =
    [
        "DROP TABLE calls", // and its indexes, calls_updated and calls_call_id among them
        "ALTER TABLE calls_v2 RENAME TO calls",
    ];

    private async Task<bool> CallsTableExistsAsync(DbConnection connection, DbTransaction tx, CancellationToken ct)
    {
        await using var cmd = Command(connection, tx, CallsTableExistsSql);
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) is not (null or DBNull);
    }

    /// <summary>A query that returns a row when a table named <c>calls</c> exists.</summary>
    protected abstract string CallsTableExistsSql { get; }

    /// <summary>What this dialect must rename after the migration's table swap (PostgreSQL: the primary key's name).</summary>
    protected virtual IReadOnlyList<string> AfterCallsRenamed => [];

    /// <summary>
    /// Folds journal events (read and parsed by the caller, outside any lock) into the ledger: call
    /// records updated, their new commands enqueued, ONAPPINSTALL / ONAPPUPDATE turned into a portal
    /// set-up command, the cursor moved to <paramref name="through"/>. All in one transaction, and only
    /// if the cursor is still at <paramref name="expectedCursor"/>; otherwise another instance got
    /// there first, nothing is written, and the result says so (<see cref="LedgerPass.Conflict"/>).
    /// </summary>
    /// <param name="expectedCursor">The cursor the caller read before reading the journal.</param>
    /// <param name="events">The events after it that could be read back, in id order.</param>
    /// <param name="through">The last journal id read (readable or not): where the cursor goes.</param>
    /// <param name="now">The clock.</param>
    /// <param name="cancellationToken">Cancels before the commit.</param>
    public Task<LedgerPass> FoldAsync(long expectedCursor, IReadOnlyList<JournalEvent> events, long through, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(events);
        return WriteAsync(async (connection, tx, ct) =>
        {
            await using (var cursor = Command(connection, tx, $"SELECT position FROM ledger_cursor WHERE name = '{CursorName}'{ForUpdateClause}"))
            {
                var position = Convert.ToInt64(await cursor.ExecuteScalarAsync(ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
                if (position != expectedCursor)
                {
                    return new LedgerPass(0, 0, 0, Conflict: true);
                }
            }

            var records = new Dictionary<(string MemberId, string CallId), CallRecord?>();
            var changed = new HashSet<(string MemberId, string CallId)>();
            var items = new List<OutboxItem>();

            // The pass's calls are read in one statement, not one lookup per call.
            var known = await LoadRecordsAsync(connection, tx,
                events.Where(r => CallLedger.Folds(r.Event)).Select(r => (r.MemberId, r.Event.CallId!)), ct).ConfigureAwait(false);
            foreach (var row in events)
            {
                var ev = row.Event;
                if (ev is AppInstallEvent or AppUpdateEvent)
                {
                    // Each install or update runs the set-up again (Bitrix24 drops handlers on update).
                    var payload = System.Text.Json.JsonSerializer.Serialize(new { journalId = row.Id, @event = ev.Name });
                    items.Add(new OutboxItem(OutboxKinds.PortalSetup, $"setup:{row.MemberId}:{row.Id}", row.MemberId, payload, now));
                    continue;
                }

                if (!CallLedger.Folds(ev))
                {
                    continue;
                }

                // A call belongs to the portal whose verified event named it: the same CALL_ID from
                // another portal is another call, never a change to this one (RELIABILITY "Tenant").
                var key = (row.MemberId, ev.CallId!);
                if (!records.TryGetValue(key, out var current))
                {
                    current = known.GetValueOrDefault(key);
                }

                var (next, commands) = CallLedger.Apply(current, new Bitrix24Input(row.Id, row.ReceivedAt, ev));
                records[key] = next;
                changed.Add(key);
                foreach (var command in commands)
                {
                    items.Add(CallJson.ToOutboxItem(command, row.MemberId, now));
                }
            }

            await SaveRecordsAsync(connection, tx, changed.Select(key => (key.MemberId, records[key]!)), now, ct).ConfigureAwait(false);

            var added = await outbox.EnqueueAsync(connection, tx, items, ct).ConfigureAwait(false);
            await using (var move = Command(connection, tx, $"UPDATE ledger_cursor SET position = @position WHERE name = '{CursorName}'"))
            {
                Add(move, "position", through);
                await move.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            return new LedgerPass(events.Count, changed.Count, added, Conflict: false);
        }, cancellationToken);
    }

    /// <summary>
    /// Folds one input that does not come from the journal (a PBX fact, <c>switchboard calls finish</c>)
    /// into an existing call, and enqueues what it causes, in one transaction.
    /// </summary>
    /// <param name="input">The input.</param>
    /// <param name="now">The clock.</param>
    /// <param name="cancellationToken">Cancels before the commit.</param>
    /// <param name="memberId">The call's portal; null finds the one portal whose ledger has the CALL_ID
    /// (<see cref="CallRegistered"/> names its own).</param>
    /// <returns>The record after the input and the commands that were new, or null when the call is unknown.</returns>
    /// <exception cref="AmbiguousCallException">No portal named, and several have this CALL_ID.</exception>
    public Task<(CallRecord Record, IReadOnlyList<OutboxCommand> NewCommands)?> ApplyAsync(LedgerInput input, DateTimeOffset now, CancellationToken cancellationToken, string? memberId = null)
    {
        ArgumentNullException.ThrowIfNull(input);
        return WriteAsync<(CallRecord, IReadOnlyList<OutboxCommand>)?>(async (connection, tx, ct) =>
        {
            var portal = memberId ?? (input as CallRegistered)?.MemberId ?? await FindPortalAsync(connection, tx, input.CallId, ct).ConfigureAwait(false);
            if (portal is null)
            {
                return null;
            }

            var current = (await LoadRecordsAsync(connection, tx, [(portal, input.CallId)], ct).ConfigureAwait(false)).GetValueOrDefault((portal, input.CallId));

            if (current is null && input is not CallRegistered)
            {
                return null;
            }

            var (next, commands) = CallLedger.Apply(current, input);
            await SaveRecordsAsync(connection, tx, [(portal, next)], now, ct).ConfigureAwait(false);

            await outbox.EnqueueAsync(connection, tx, [.. commands.Select(c => CallJson.ToOutboxItem(c, portal, now))], ct).ConfigureAwait(false);
            return (next, commands);
        }, cancellationToken);
    }

    /// <summary>One call of one portal, or null.</summary>
    public async Task<StoredCall?> GetAsync(string memberId, string callId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(memberId);
        ArgumentException.ThrowIfNullOrEmpty(callId);
        await using var connection = await OpenReadConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = Command(connection, null, "SELECT record, updated_at FROM calls WHERE call_key = @call_key AND member_id = @member_id");
        Add(cmd, "call_key", CallKey.Of(callId));
        Add(cmd, "member_id", memberId);
        var list = await ReadCallsAsync(cmd, cancellationToken).ConfigureAwait(false);
        return list.Count == 0 ? null : list[0];
    }

    /// <summary>The call with this CALL_ID, or null; for people, who rarely know the portal.</summary>
    /// <exception cref="AmbiguousCallException">Several portals' ledgers have this CALL_ID.</exception>
    public async Task<StoredCall?> GetAsync(string callId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(callId);
        string? memberId;
        await using (var connection = await OpenReadConnectionAsync(cancellationToken).ConfigureAwait(false))
        {
            memberId = await FindPortalAsync(connection, null, callId, cancellationToken).ConfigureAwait(false);
        }

        return memberId is null ? null : await GetAsync(memberId, callId, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Calls, most recently changed first; optionally of one portal.</summary>
    public async Task<IReadOnlyList<StoredCall>> ListAsync(int limit, string? memberId, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        await using var connection = await OpenReadConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = Command(connection, null,
            $"SELECT record, updated_at FROM calls{(memberId is null ? "" : " WHERE member_id = @member_id")} ORDER BY updated_at DESC, call_id LIMIT @limit");
        if (memberId is not null)
        {
            Add(cmd, "member_id", memberId);
        }

        Add(cmd, "limit", (long)limit);
        return await ReadCallsAsync(cmd, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>How far the journal has been folded in: the last journal id processed.</summary>
    public async Task<long> GetCursorAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = Command(connection, null, $"SELECT position FROM ledger_cursor WHERE name = '{CursorName}'");
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <inheritdoc/>
    public abstract ValueTask DisposeAsync();

    /// <summary>
    /// Reads the records of these calls (read <c>FOR UPDATE</c> where the dialect locks rows), in
    /// statements of up to 1,000 keys; calls not in the ledger are missing from the result.
    /// </summary>
    private async Task<Dictionary<(string MemberId, string CallId), CallRecord>> LoadRecordsAsync(
        DbConnection connection, DbTransaction tx, IEnumerable<(string MemberId, string CallId)> calls, CancellationToken ct)
    {
        var wanted = calls.ToHashSet();
        var found = new Dictionary<(string MemberId, string CallId), CallRecord>(wanted.Count);
        foreach (var chunk in wanted.Select(c => CallKey.Of(c.CallId)).Distinct(StringComparer.Ordinal).Chunk(1000))
        {
            await using var cmd = Command(connection, tx, LoadRecordsSql + ForUpdateClause);
            Add(cmd, "keys", KeysParameter(chunk));
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var call = (r.GetString(0), r.GetString(1));
                if (wanted.Contains(call))
                {
                    found[call] = CallJson.Read(r.GetString(2));
                }
            }
        }

        return found;
    }

    /// <summary>The statement of <see cref="LoadRecordsAsync"/>: member_id, call_id and record of the calls whose call_key is in <c>@keys</c>.</summary>
    protected abstract string LoadRecordsSql { get; }

    /// <summary>The value of <c>@keys</c> in <see cref="LoadRecordsSql"/>.</summary>
    protected abstract object KeysParameter(string[] keys);

    /// <summary>Inserts or replaces these records, in the caller's transaction.</summary>
    protected virtual async Task SaveRecordsAsync(DbConnection connection, DbTransaction tx, IEnumerable<(string MemberId, CallRecord Record)> rows, DateTimeOffset now, CancellationToken ct)
    {
        await using var save = new RecordWriter(connection, tx);
        foreach (var (memberId, record) in rows)
        {
            await save.WriteAsync(memberId, record, now, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Upserts records through one prepared statement.</summary>
    private sealed class RecordWriter : IAsyncDisposable
    {
        private readonly DbCommand _cmd;
        private readonly DbParameter _key;
        private readonly DbParameter _call;
        private readonly DbParameter _member;
        private readonly DbParameter _record;
        private readonly DbParameter _requested;
        private readonly DbParameter _ended;
        private readonly DbParameter _updated;

        public RecordWriter(DbConnection connection, DbTransaction tx)
        {
            _cmd = Command(connection, tx, UpsertSql);
            _key = Add(_cmd, "call_key", string.Empty);
            _call = Add(_cmd, "call_id", string.Empty);
            _member = Add(_cmd, "member_id", string.Empty);
            _record = Add(_cmd, "record", string.Empty);
            _requested = Add(_cmd, "requested_at");
            _ended = Add(_cmd, "ended_at");
            _updated = Add(_cmd, "updated_at", 0L);
        }

        public async Task WriteAsync(string memberId, CallRecord record, DateTimeOffset now, CancellationToken ct)
        {
            _key.Value = CallKey.Of(record.CallId);
            _call.Value = record.CallId;
            _member.Value = memberId;
            _record.Value = CallJson.Write(record);
            _requested.Value = (object?)record.RequestedAt?.ToUnixTimeMilliseconds() ?? DBNull.Value;
            _ended.Value = (object?)record.EndedAt?.ToUnixTimeMilliseconds() ?? DBNull.Value;
            _updated.Value = now.ToUnixTimeMilliseconds();
            await _cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        public ValueTask DisposeAsync() => _cmd.DisposeAsync();
    }

    /// <summary>The one portal whose ledger has the CALL_ID, or null; several is <see cref="AmbiguousCallException"/>.</summary>
    private static async Task<string?> FindPortalAsync(DbConnection connection, DbTransaction? tx, string callId, CancellationToken ct)
    {
        await using var cmd = Command(connection, tx, "SELECT member_id FROM calls WHERE call_key = @call_key ORDER BY member_id LIMIT 2");
        Add(cmd, "call_key", CallKey.Of(callId));
        var found = new List<string>();
        await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                found.Add(r.GetString(0));
            }
        }

        return found.Count switch
        {
            0 => null,
            1 => found[0],
            _ => throw new AmbiguousCallException(callId),
        };
    }

    private static async Task<IReadOnlyList<StoredCall>> ReadCallsAsync(DbCommand cmd, CancellationToken ct)
    {
        var list = new List<StoredCall>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            list.Add(new StoredCall(CallJson.Read(r.GetString(0)), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1))));
        }

        return list;
    }


}

/// <summary>A CALL_ID that several portals' ledgers have; the portal must be named.</summary>
public sealed class AmbiguousCallException(string callId)
    : Exception($"CALL_ID {callId} is in the ledgers of several portals; name the portal (--portal MEMBER_ID).")
{
    /// <summary>The CALL_ID.</summary>
    public string CallId { get; } = callId;
}
