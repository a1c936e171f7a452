using System.Data.Common;
using Switchboard.Bitrix24.Events;
using Switchboard.Outbox;
using static Switchboard.Storage.Sql;

namespace Switchboard.Calls;

/// <summary>What one pass of <see cref="SqlCallStore.ProcessJournalAsync"/> did.</summary>
/// <param name="Events">Journal rows read (and the cursor moved past).</param>
/// <param name="Calls">Call records written.</param>
/// <param name="Commands">Outbox commands that were new.</param>
/// <param name="Unreadable">Rows whose stored body no longer parses (skipped, logged by the caller).</param>
/// <param name="More">True when the pass stopped at its limit: call again at once.</param>
public sealed record LedgerPass(int Events, int Calls, int Commands, IReadOnlyList<long> Unreadable, bool More);

/// <summary>A call record as listed.</summary>
public sealed record StoredCall(CallRecord Record, DateTimeOffset UpdatedAt);

/// <summary>
/// The call ledger's rows, in the journal's database: one row per CALL_ID holding the
/// <see cref="CallRecord"/> as JSON, and a cursor saying how far the journal has been folded in.
/// Every change to a record, the outbox commands it causes and the cursor move commit in ONE
/// transaction (RELIABILITY promise 2): after a crash the journal is folded again from the cursor and
/// nothing is lost; a command is keyed by its idempotency key, so nothing is sent twice either.
/// </summary>
/// <remarks>
/// SQLite and PostgreSQL share this SQL. On PostgreSQL several instances may run the processor: the
/// cursor row is read <c>FOR UPDATE</c>, so passes are serialised and each journal row is folded once;
/// a record is read <c>FOR UPDATE</c>, so a manual finish and a pass never overwrite each other.
/// </remarks>
public abstract class SqlCallStore(IOutboxStore outbox) : IAsyncDisposable
{
    private const string CursorName = "journal";

    private static readonly string[] Schema =
    [
        """
        CREATE TABLE IF NOT EXISTS calls (
            call_id      TEXT PRIMARY KEY,
            member_id    TEXT,
            record       TEXT NOT NULL,
            requested_at BIGINT,
            ended_at     BIGINT,
            updated_at   BIGINT NOT NULL)
        """,
        "CREATE INDEX IF NOT EXISTS calls_updated ON calls (updated_at)",
        "CREATE TABLE IF NOT EXISTS ledger_cursor (name TEXT PRIMARY KEY, position BIGINT NOT NULL)",
        $"INSERT INTO ledger_cursor (name, position) VALUES ('{CursorName}', 0) ON CONFLICT (name) DO NOTHING",
    ];

    private const string UpsertSql = """
        INSERT INTO calls (call_id, member_id, record, requested_at, ended_at, updated_at)
        VALUES (@call_id, @member_id, @record, CAST(@requested_at AS BIGINT), CAST(@ended_at AS BIGINT), @updated_at)
        ON CONFLICT (call_id) DO UPDATE SET member_id = excluded.member_id, record = excluded.record,
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
    /// Folds the next journal rows (up to <paramref name="max"/>) into the ledger: call records updated,
    /// their new commands enqueued, ONAPPINSTALL / ONAPPUPDATE turned into a portal set-up command, the
    /// cursor moved. All in one transaction.
    /// </summary>
    public Task<LedgerPass> ProcessJournalAsync(int max, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(max);
        return WriteAsync(async (connection, tx, ct) =>
        {
            long position;
            await using (var cursor = Command(connection, tx, $"SELECT position FROM ledger_cursor WHERE name = '{CursorName}'{ForUpdateClause}"))
            {
                position = Convert.ToInt64(await cursor.ExecuteScalarAsync(ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
            }

            var rows = new List<(long Id, DateTimeOffset ReceivedAt, string MemberId, string ContentType, string Body)>();
            await using (var read = Command(connection, tx, "SELECT id, received_at, member_id, content_type, body FROM events WHERE id > @position ORDER BY id LIMIT @max"))
            {
                Add(read, "position", position);
                Add(read, "max", (long)max);
                await using var r = await read.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await r.ReadAsync(ct).ConfigureAwait(false))
                {
                    rows.Add((r.GetInt64(0), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1)), r.GetString(2), r.GetString(3), r.GetString(4)));
                }
            }

            if (rows.Count == 0)
            {
                return new LedgerPass(0, 0, 0, [], false);
            }

            var records = new Dictionary<string, CallRecord?>(StringComparer.Ordinal);
            var changed = new HashSet<string>(StringComparer.Ordinal);
            var items = new List<OutboxItem>();
            var unreadable = new List<long>();
            foreach (var row in rows)
            {
                var ev = CallJson.ReadEvent(row.ContentType, row.Body);
                if (ev is null)
                {
                    unreadable.Add(row.Id);
                    continue;
                }

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

                var callId = ev.CallId!;
                if (!records.TryGetValue(callId, out var current))
                {
                    current = await LoadAsync(connection, tx, callId, lockRow: true, ct).ConfigureAwait(false);
                }

                var (next, commands) = CallLedger.Apply(current, new Bitrix24Input(row.Id, row.ReceivedAt, ev));
                records[callId] = next;
                changed.Add(callId);
                var memberId = next.MemberId ?? row.MemberId;
                items.AddRange(commands.Select(c => CallJson.ToOutboxItem(c, memberId, now)));
            }

            foreach (var callId in changed)
            {
                await SaveAsync(connection, tx, records[callId]!, now, ct).ConfigureAwait(false);
            }

            var added = await outbox.EnqueueAsync(connection, tx, items, ct).ConfigureAwait(false);
            await using (var move = Command(connection, tx, $"UPDATE ledger_cursor SET position = @position WHERE name = '{CursorName}'"))
            {
                Add(move, "position", rows[^1].Id);
                await move.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            return new LedgerPass(rows.Count, changed.Count, added, unreadable, rows.Count == max);
        }, cancellationToken);
    }

    /// <summary>
    /// Folds one input that does not come from the journal (a PBX fact, <c>switchboard calls finish</c>)
    /// into an existing call, and enqueues what it causes, in one transaction.
    /// </summary>
    /// <returns>The record after the input and the commands that were new, or null when the call is unknown.</returns>
    public Task<(CallRecord Record, IReadOnlyList<OutboxCommand> NewCommands)?> ApplyAsync(LedgerInput input, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        return WriteAsync<(CallRecord, IReadOnlyList<OutboxCommand>)?>(async (connection, tx, ct) =>
        {
            var current = await LoadAsync(connection, tx, input.CallId, lockRow: true, ct).ConfigureAwait(false);
            if (current is null && input is not CallRegistered)
            {
                return null;
            }

            var (next, commands) = CallLedger.Apply(current, input);
            await SaveAsync(connection, tx, next, now, ct).ConfigureAwait(false);
            if (next.MemberId is { } memberId)
            {
                await outbox.EnqueueAsync(connection, tx, [.. commands.Select(c => CallJson.ToOutboxItem(c, memberId, now))], ct).ConfigureAwait(false);
            }

            return (next, commands);
        }, cancellationToken);
    }

    /// <summary>One call, or null.</summary>
    public async Task<StoredCall?> GetAsync(string callId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(callId);
        await using var connection = await OpenReadConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = Command(connection, null, "SELECT record, updated_at FROM calls WHERE call_id = @call_id");
        Add(cmd, "call_id", callId);
        var list = await ReadCallsAsync(cmd, cancellationToken).ConfigureAwait(false);
        return list.Count == 0 ? null : list[0];
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

    private async Task<CallRecord?> LoadAsync(DbConnection connection, DbTransaction tx, string callId, bool lockRow, CancellationToken ct)
    {
        await using var cmd = Command(connection, tx, "SELECT record FROM calls WHERE call_id = @call_id" + (lockRow ? ForUpdateClause : ""));
        Add(cmd, "call_id", callId);
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) is string json ? CallJson.Read(json) : null;
    }

    private static async Task SaveAsync(DbConnection connection, DbTransaction tx, CallRecord record, DateTimeOffset now, CancellationToken ct)
    {
        await using var cmd = Command(connection, tx, UpsertSql);
        Add(cmd, "call_id", record.CallId);
        Add(cmd, "member_id", record.MemberId);
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
