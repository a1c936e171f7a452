using System.Data.Common;
using Switchboard.Bitrix24.Events;
using Switchboard.Outbox;
using static Switchboard.Storage.Sql;

namespace Switchboard.Calls;

/// <summary>What one <see cref="SqlCallStore.FoldAsync"/> did.</summary>
/// <param name="Events">Events folded.</param>
/// <param name="Calls">Call records written.</param>
/// <param name="Commands">Outbox commands that were new.</param>
/// <param name="Conflict">True when the cursor had moved (another instance folded these rows): nothing written.</param>
public sealed record LedgerPass(int Events, int Calls, int Commands, bool Conflict);

/// <summary>A journal row read back as its typed event, for <see cref="SqlCallStore.FoldAsync"/>.</summary>
public sealed record JournalEvent(long Id, DateTimeOffset ReceivedAt, string MemberId, Bitrix24Event Event);

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
public abstract class SqlCallStore(IOutboxStore outbox) : IAsyncDisposable
{
    private const string CursorName = "journal";

    private static readonly string[] Schema =
    [
        """
        CREATE TABLE IF NOT EXISTS calls (
            member_id    TEXT NOT NULL,
            call_id      TEXT NOT NULL,
            record       TEXT NOT NULL,
            requested_at BIGINT,
            ended_at     BIGINT,
            updated_at   BIGINT NOT NULL,
            PRIMARY KEY (member_id, call_id))
        """,
        "CREATE INDEX IF NOT EXISTS calls_updated ON calls (updated_at)",
        "CREATE INDEX IF NOT EXISTS calls_call_id ON calls (call_id)",
        "CREATE TABLE IF NOT EXISTS ledger_cursor (name TEXT PRIMARY KEY, position BIGINT NOT NULL)",
        // The version of the ledger's and the outbox's tables, for the migrations a later change needs
        // (the journal's are in SqlJournalStore). Version 1 is the first released form.
        "CREATE TABLE IF NOT EXISTS ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "INSERT INTO ledger_meta (key, value) VALUES ('schema_version', '1') ON CONFLICT (key) DO NOTHING",
        $"INSERT INTO ledger_cursor (name, position) VALUES ('{CursorName}', 0) ON CONFLICT (name) DO NOTHING",
    ];

    private const string UpsertSql = """
        INSERT INTO calls (call_id, member_id, record, requested_at, ended_at, updated_at)
        VALUES (@call_id, @member_id, @record, CAST(@requested_at AS BIGINT), CAST(@ended_at AS BIGINT), @updated_at)
        ON CONFLICT (member_id, call_id) DO UPDATE SET record = excluded.record,
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

    /// <summary>Creates the tables if missing. The journal's and the outbox's schemas must exist first.</summary>
    public virtual Task InitializeAsync(CancellationToken cancellationToken) =>
        WriteAsync(async (connection, tx, ct) =>
        {
            foreach (var sql in SchemaPreamble.Concat(Schema))
            {
                await using var cmd = Command(connection, tx, sql);
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            return 0;
        }, cancellationToken);

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
                    current = await LoadAsync(connection, tx, row.MemberId, ev.CallId!, ct).ConfigureAwait(false);
                }

                var (next, commands) = CallLedger.Apply(current, new Bitrix24Input(row.Id, row.ReceivedAt, ev));
                records[key] = next;
                changed.Add(key);
                items.AddRange(commands.Select(c => CallJson.ToOutboxItem(c, row.MemberId, now)));
            }

            foreach (var key in changed)
            {
                await SaveAsync(connection, tx, key.MemberId, records[key]!, now, ct).ConfigureAwait(false);
            }

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

            var current = await LoadAsync(connection, tx, portal, input.CallId, ct).ConfigureAwait(false);
            if (current is null && input is not CallRegistered)
            {
                return null;
            }

            var (next, commands) = CallLedger.Apply(current, input);
            await SaveAsync(connection, tx, portal, next, now, ct).ConfigureAwait(false);
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
        await using var cmd = Command(connection, null, "SELECT record, updated_at FROM calls WHERE member_id = @member_id AND call_id = @call_id");
        Add(cmd, "member_id", memberId);
        Add(cmd, "call_id", callId);
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

    private async Task<CallRecord?> LoadAsync(DbConnection connection, DbTransaction tx, string memberId, string callId, CancellationToken ct)
    {
        await using var cmd = Command(connection, tx, "SELECT record FROM calls WHERE member_id = @member_id AND call_id = @call_id" + ForUpdateClause);
        Add(cmd, "member_id", memberId);
        Add(cmd, "call_id", callId);
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) is string json ? CallJson.Read(json) : null;
    }

    /// <summary>The one portal whose ledger has the CALL_ID, or null; several is <see cref="AmbiguousCallException"/>.</summary>
    private static async Task<string?> FindPortalAsync(DbConnection connection, DbTransaction? tx, string callId, CancellationToken ct)
    {
        await using var cmd = Command(connection, tx, "SELECT member_id FROM calls WHERE call_id = @call_id ORDER BY member_id LIMIT 2");
        Add(cmd, "call_id", callId);
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

    private static async Task SaveAsync(DbConnection connection, DbTransaction tx, string memberId, CallRecord record, DateTimeOffset now, CancellationToken ct)
    {
        await using var cmd = Command(connection, tx, UpsertSql);
        Add(cmd, "call_id", record.CallId);
        Add(cmd, "member_id", memberId);
        Add(cmd, "record", CallJson.Write(record));
        Add(cmd, "requested_at", record.RequestedAt?.ToUnixTimeMilliseconds());
        Add(cmd, "ended_at", record.EndedAt?.ToUnixTimeMilliseconds());
        Add(cmd, "updated_at", now.ToUnixTimeMilliseconds());
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
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
