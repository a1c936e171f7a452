using System.Data.Common;
using static Switchboard.Storage.Sql;

namespace Switchboard.Outbox;

/// <summary>
/// The outbox's SQL, shared by SQLite and PostgreSQL: both take <c>@name</c> parameters,
/// <c>ON CONFLICT DO NOTHING</c> and <c>UPDATE … RETURNING</c>, so one set of statements serves both.
/// The dialects differ in the id column, in how a write transaction is opened (SQLite: one writer,
/// <c>BEGIN IMMEDIATE</c>) and in the claim's row lock (PostgreSQL: <c>FOR UPDATE SKIP LOCKED</c>).
/// Times are Unix milliseconds in BIGINT columns, like the journal's.
/// </summary>
public abstract class SqlOutboxStore : IOutboxStore
{
    private const int MaxErrorLength = 2000;

    private const string Columns = """
        id, kind, idempotency_key, member_id, payload, status, attempts, created_at, next_attempt_at,
        claimed_by, lease_until, last_error, completed_at, claims
        """;

    /// <summary>Adds one command unless its idempotency key is known: @kind, @key, @member_id, @payload, @created_at, @next_attempt_at (numbered 1 to 6 in that order).</summary>
    protected const string InsertSql = """
        INSERT INTO outbox (kind, idempotency_key, member_id, payload, status, attempts, created_at, next_attempt_at)
        VALUES (@kind, @key, @member_id, @payload, 'pending', 0, @created_at, @next_attempt_at)
        ON CONFLICT (idempotency_key) DO NOTHING
        """;

    // Due: pending and its time has come, or claimed by a worker whose lease ran out (killed, hung,
    // partitioned). Each way of being due, and each kind, is its own range of its own partial index,
    // read in due order up to the batch; the ranges are merged in due order and the first of them taken.
    // Written as one WHERE with an OR and a kind IN list, the planners walked every pending row of every
    // kind at each claim: SQLite (no statistics) through outbox_status, PostgreSQL (statistics that cannot
    // see that pending rows are all of other kinds) through outbox_pending_due with a filter. Measured:
    // 6 ms a claim with 18,000 pbx.originate commands waiting for a PBX connector, twenty claims a second.
    // The UPDATE takes what the inner SELECTs picked, in one statement; in PostgreSQL each inner SELECT
    // locks what it picks and skips rows another claimer has locked, so concurrent claimers never wait on
    // each other and never take the same row ({Lock}; rows a range locked but the merge left are free
    // again when the transaction ends: a claim locks up to (kinds + 1) × max rows for an instant, and a
    // concurrent claimer skips them, which costs it a short batch, never a row).
    private const string ClaimSqlTemplate = $"""
        UPDATE outbox SET status = 'claimed', claimed_by = @worker, lease_until = @lease_until, claims = claims + 1
        WHERE id IN (
            SELECT id FROM (
        {"{Ranges}"}) AS due
            ORDER BY next_attempt_at, id
            LIMIT @max)
        RETURNING {Columns}
        """;

    private const string ClaimRangeTemplate = """
                SELECT id, next_attempt_at FROM (
                    SELECT id, next_attempt_at FROM outbox{Index}
                    WHERE {Where}
                    ORDER BY next_attempt_at, id
                    LIMIT @max{Lock}) AS {Name}
        """;

    // Only the holder may finish: a worker whose lease expired and whose item another worker claimed
    // meets claimed_by = someone else and changes nothing. A done row keeps claimed_by: which
    // instance sent it (outbox list shows it).
    private const string CompleteSql = """
        UPDATE outbox SET status = 'done', completed_at = @now, lease_until = NULL
        WHERE id = @id AND status = 'claimed' AND claimed_by = @worker
        """;

    // attempts on the right-hand side is the value before this UPDATE, in both dialects.
    private const string FailSql = """
        UPDATE outbox SET attempts = attempts + 1,
                          status = CASE WHEN attempts + 1 >= @max_attempts THEN 'dead' ELSE 'pending' END,
                          next_attempt_at = @next_attempt_at,
                          last_error = @error,
                          claimed_by = NULL,
                          lease_until = NULL
        WHERE id = @id AND status = 'claimed' AND claimed_by = @worker
        RETURNING status
        """;

    private const string DeferSql = """
        UPDATE outbox SET status = 'pending', next_attempt_at = @next_attempt_at, last_error = @error,
                          claimed_by = NULL, lease_until = NULL, claims = claims - 1
        WHERE id = @id AND status = 'claimed' AND claimed_by = @worker
        """;

    private const string RetrySql = """
        UPDATE outbox SET status = 'pending', attempts = 0, claims = 0, next_attempt_at = @now
        WHERE status = 'dead'
        """;

    /// <summary>The schema, with <c>{IdColumn}</c> replaced by <see cref="IdColumnDefinition"/>.</summary>
    protected IReadOnlyList<string> SharedSchema => SharedSchemaTemplate.Select(s => s.Replace("{IdColumn}", IdColumnDefinition, StringComparison.Ordinal)).ToArray();

    private static readonly string[] SharedSchemaTemplate =
    [
        """
        CREATE TABLE IF NOT EXISTS outbox (
            id              {IdColumn},
            kind            TEXT NOT NULL,
            idempotency_key TEXT NOT NULL UNIQUE,
            member_id       TEXT NOT NULL,
            payload         TEXT NOT NULL,
            status          TEXT NOT NULL CHECK (status IN ('pending', 'claimed', 'done', 'dead')),
            attempts        INTEGER NOT NULL,
            created_at      BIGINT NOT NULL,
            next_attempt_at BIGINT NOT NULL,
            claimed_by      TEXT,
            lease_until     BIGINT,
            last_error      TEXT,
            completed_at    BIGINT,
            claims          INTEGER NOT NULL DEFAULT 0)
        """,
        // The claim's two ways of being due, each an index range; done rows (the bulk, over time) are in neither.
        "CREATE INDEX IF NOT EXISTS outbox_pending_due ON outbox (next_attempt_at, id) WHERE status = 'pending'",
        // A worker claims only the kinds it has handlers for. Without this index each claim walked every
        // pending row of the other kinds too (seen in the benchmark: 60,000 pbx.originate commands
        // waiting for a PBX connector, walked by every claim of bitrix24.* commands, twenty a second).
        "CREATE INDEX IF NOT EXISTS outbox_pending_kind_due ON outbox (kind, next_attempt_at, id) WHERE status = 'pending'",
        "CREATE INDEX IF NOT EXISTS outbox_claimed_lease ON outbox (lease_until) WHERE status = 'claimed'",
        "CREATE INDEX IF NOT EXISTS outbox_status ON outbox (status, id)",
        // Who holds claims: the process behind each worker id (so a restarted SQLite server can tell
        // that the process which claimed is gone) and its last heartbeat on the store's clock (so
        // PostgreSQL instances can tell that another one stopped beating).
        """
        CREATE TABLE IF NOT EXISTS outbox_instances (
            worker_id    TEXT PRIMARY KEY,
            machine      TEXT NOT NULL,
            pid          INTEGER NOT NULL,
            started_at   BIGINT NOT NULL,
            heartbeat_at BIGINT NOT NULL)
        """,
    ];

    /// <summary>How this dialect declares an auto-numbered primary key.</summary>
    protected abstract string IdColumnDefinition { get; }

    /// <summary>Schema statements, run in order by <see cref="InitializeAsync"/>.</summary>
    protected abstract IReadOnlyList<string> SchemaStatements { get; }

    /// <summary>The row lock the claim's inner SELECTs take; none where the transaction is the only writer.</summary>
    protected virtual string ClaimLockClause => string.Empty;

    /// <summary>
    /// The index hint for a claim range (<c>outbox_pending_kind_due</c>, <c>outbox_pending_due</c> or
    /// <c>outbox_claimed_lease</c>); empty where the planner is left to choose (PostgreSQL has no hints).
    /// </summary>
    protected virtual string IndexHint(string index) => string.Empty;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, string> _claimSqlByKinds = new();

    /// <summary>The claim statement for <paramref name="kinds"/> kinds (parameters <c>@kind0</c>…), or for any kind when 0.</summary>
    /// <remarks>A worker claims only what it has a handler for: a PBX command waits for the PBX connector
    /// instead of failing its way into the dead-letter list at a Bitrix24 worker.</remarks>
    internal string ClaimSqlFor(int kinds) => _claimSqlByKinds.GetOrAdd(kinds, n =>
    {
        var kindNames = Enumerable.Range(0, n).Select(i => "@kind" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var ranges = new List<string>();
        if (n == 0)
        {
            ranges.Add(ClaimRange("pending", "outbox_pending_due", "status = 'pending' AND next_attempt_at <= @now"));
        }
        else
        {
            // kind = one value and ORDER BY the index's next columns: an ordered walk that stops at the batch.
            ranges.AddRange(kindNames.Select((k, i) => ClaimRange($"pending{i}", "outbox_pending_kind_due", $"status = 'pending' AND kind = {k} AND next_attempt_at <= @now")));
        }

        // Claimed rows are few (workers × batch), so one range serves every kind.
        var kindFilter = n == 0 ? string.Empty : $" AND kind IN ({string.Join(", ", kindNames)})";
        ranges.Add(ClaimRange("expired", "outbox_claimed_lease", "status = 'claimed' AND lease_until <= @now" + kindFilter));
        return ClaimSqlTemplate.Replace("{Ranges}", string.Join("        UNION ALL\n", ranges), StringComparison.Ordinal);
    });

    private string ClaimRange(string name, string index, string where) => ClaimRangeTemplate
        .Replace("{Index}", IndexHint(index), StringComparison.Ordinal)
        .Replace("{Where}", where, StringComparison.Ordinal)
        .Replace("{Lock}", ClaimLockClause, StringComparison.Ordinal)
        .Replace("{Name}", name, StringComparison.Ordinal);

    /// <summary>Opens a connection for reading.</summary>
    protected abstract ValueTask<DbConnection> OpenReadConnectionAsync(CancellationToken cancellationToken);

    /// <summary>Runs <paramref name="work"/> in a write transaction and commits it.</summary>
    protected abstract Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, CancellationToken, Task<T>> work, CancellationToken cancellationToken);

    /// <inheritdoc/>
    public virtual Task InitializeAsync(CancellationToken cancellationToken) =>
        WriteAsync(async (connection, tx, ct) =>
        {
            await ExecuteAllAsync(connection, tx, SchemaStatements, ct).ConfigureAwait(false);

            return 0;
        }, cancellationToken);

    /// <inheritdoc/>
    public Task<int> EnqueueAsync(IReadOnlyList<OutboxItem> items, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(items);
        return WriteAsync((connection, tx, ct) => InsertAsync(connection, tx, items, ct), cancellationToken);
    }

    /// <inheritdoc/>
    public Task<int> EnqueueAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<OutboxItem> items, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(transaction);
        ArgumentNullException.ThrowIfNull(items);
        return InsertAsync(connection, transaction, items, cancellationToken);
    }

    /// <summary>Inserts the items in the caller's transaction; returns how many were new.</summary>
    // One prepared INSERT stepped per item; the affected-row count says new (1) or known key (0).
    protected virtual async Task<int> InsertAsync(DbConnection connection, DbTransaction tx, IReadOnlyList<OutboxItem> items, CancellationToken ct)
    {
        if (items.Count == 0)
        {
            return 0;
        }

        await using var cmd = Command(connection, tx, InsertSql);
        var kind = Add(cmd, "kind", string.Empty);
        var key = Add(cmd, "key", string.Empty);
        var member = Add(cmd, "member_id", string.Empty);
        var payload = Add(cmd, "payload", string.Empty);
        var created = Add(cmd, "created_at", 0L);
        var due = Add(cmd, "next_attempt_at", 0L);
        var added = 0;
        foreach (var item in items)
        {
            ArgumentNullException.ThrowIfNull(item);
            kind.Value = item.Kind;
            key.Value = item.Key;
            member.Value = item.MemberId;
            payload.Value = item.Payload;
            created.Value = item.CreatedAt.ToUnixTimeMilliseconds();
            due.Value = (item.NotBefore ?? item.CreatedAt).ToUnixTimeMilliseconds();
            added += await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        return added;
    }

    /// <inheritdoc/>
    /// <remarks>Null here: a store on this machine's clock. PostgreSQL's store reads the server's.</remarks>
    public virtual Task<ClockReading?> ReadClockAsync(TimeProvider time, CancellationToken cancellationToken) => Task.FromResult<ClockReading?>(null);

    /// <inheritdoc/>
    public Task<IReadOnlyList<OutboxEntry>> ClaimAsync(string workerId, int max, TimeSpan leaseDuration, DateTimeOffset now, CancellationToken cancellationToken, IReadOnlyCollection<string>? kinds = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(workerId);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(max);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(leaseDuration, TimeSpan.Zero);
        var kindList = kinds?.ToArray() ?? [];
        if (kinds is not null && kindList.Length == 0)
        {
            return Task.FromResult<IReadOnlyList<OutboxEntry>>([]);
        }

        var sql = ClaimSqlFor(kindList.Length);
        return WriteAsync<IReadOnlyList<OutboxEntry>>(async (connection, tx, ct) =>
        {
            await using var cmd = Command(connection, tx, sql);
            for (var i = 0; i < kindList.Length; i++)
            {
                Add(cmd, "kind" + i.ToString(System.Globalization.CultureInfo.InvariantCulture), kindList[i]);
            }

            Add(cmd, "worker", workerId);
            Add(cmd, "lease_until", (now + leaseDuration).ToUnixTimeMilliseconds());
            Add(cmd, "now", now.ToUnixTimeMilliseconds());
            Add(cmd, "max", (long)max);
            var claimed = await ReadEntriesAsync(cmd, ct).ConfigureAwait(false);
            // RETURNING gives no order; hand them out oldest due first, as selected.
            claimed.Sort(static (a, b) => a.NextAttemptAt != b.NextAttemptAt ? a.NextAttemptAt.CompareTo(b.NextAttemptAt) : a.Id.CompareTo(b.Id));
            return claimed;
        }, cancellationToken);
    }

    /// <inheritdoc/>
    public Task<bool> CompleteAsync(long id, string workerId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(workerId);
        return WriteAsync(async (connection, tx, ct) =>
        {
            await using var cmd = Command(connection, tx, CompleteSql);
            Add(cmd, "id", id);
            Add(cmd, "worker", workerId);
            Add(cmd, "now", now.ToUnixTimeMilliseconds());
            return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
        }, cancellationToken);
    }

    /// <inheritdoc/>
    public Task<FailOutcome> FailAsync(long id, string workerId, string errorMessage, DateTimeOffset nextAttemptAt, int maxAttempts, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(workerId);
        ArgumentNullException.ThrowIfNull(errorMessage);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxAttempts);
        var text = errorMessage.Length <= MaxErrorLength ? errorMessage : errorMessage[..MaxErrorLength];
        return WriteAsync(async (connection, tx, ct) =>
        {
            await using var cmd = Command(connection, tx, FailSql);
            Add(cmd, "id", id);
            Add(cmd, "worker", workerId);
            Add(cmd, "error", text);
            Add(cmd, "next_attempt_at", nextAttemptAt.ToUnixTimeMilliseconds());
            Add(cmd, "max_attempts", maxAttempts);
            var status = await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;
            return status switch
            {
                null => FailOutcome.NotClaimed,
                "dead" => FailOutcome.Dead,
                _ => FailOutcome.WillRetry,
            };
        }, cancellationToken);
    }

    /// <inheritdoc/>
    public Task<int> PruneDoneAsync(DateTimeOffset olderThan, int max, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(max);
        return WriteAsync(async (connection, tx, ct) =>
        {
            // Bounded, so one prune never holds the write lock for long.
            await using var cmd = Command(connection, tx, """
                DELETE FROM outbox WHERE id IN (
                    SELECT id FROM outbox WHERE status = 'done' AND completed_at < @before ORDER BY id LIMIT @max)
                """);
            Add(cmd, "before", olderThan.ToUnixTimeMilliseconds());
            Add(cmd, "max", (long)max);
            return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);
    }

    /// <inheritdoc/>
    public Task<bool> DeferAsync(long id, string workerId, string reason, DateTimeOffset nextAttemptAt, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(workerId);
        ArgumentNullException.ThrowIfNull(reason);
        var text = reason.Length <= MaxErrorLength ? reason : reason[..MaxErrorLength];
        return WriteAsync(async (connection, tx, ct) =>
        {
            await using var cmd = Command(connection, tx, DeferSql);
            Add(cmd, "id", id);
            Add(cmd, "worker", workerId);
            Add(cmd, "error", text);
            Add(cmd, "next_attempt_at", nextAttemptAt.ToUnixTimeMilliseconds());
            return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
        }, cancellationToken);
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<OutboxEntry>> ListAsync(OutboxStatus? status, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        await using var connection = await OpenReadConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = Command(connection, null, $"SELECT {Columns} FROM outbox{(status is null ? string.Empty : " WHERE status = @status")} ORDER BY id LIMIT @limit");
        if (status is { } s)
        {
            Add(cmd, "status", StatusText(s));
        }

        Add(cmd, "limit", (long)limit);
        return await ReadEntriesAsync(cmd, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public Task<bool> RetryAsync(long id, DateTimeOffset now, CancellationToken cancellationToken) =>
        WriteAsync(async (connection, tx, ct) =>
        {
            await using var cmd = Command(connection, tx, RetrySql + " AND id = @id");
            Add(cmd, "now", now.ToUnixTimeMilliseconds());
            Add(cmd, "id", id);
            return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
        }, cancellationToken);

    /// <inheritdoc/>
    public Task<int> RetryAllDeadAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        WriteAsync(async (connection, tx, ct) =>
        {
            await using var cmd = Command(connection, tx, RetrySql);
            Add(cmd, "now", now.ToUnixTimeMilliseconds());
            return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);

    /// <summary>Records <paramref name="instance"/> (or renews its heartbeat) at <paramref name="now"/> on the store's clock.</summary>
    public Task RegisterInstanceAsync(OutboxInstance instance, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(instance);
        return WriteAsync(async (connection, tx, ct) =>
        {
            await using var cmd = Command(connection, tx, """
                INSERT INTO outbox_instances (worker_id, machine, pid, started_at, heartbeat_at)
                VALUES (@worker, @machine, @pid, @started_at, @now)
                ON CONFLICT (worker_id) DO UPDATE SET machine = excluded.machine, pid = excluded.pid,
                    started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at
                """);
            Add(cmd, "worker", instance.WorkerId);
            Add(cmd, "machine", instance.Machine);
            Add(cmd, "pid", instance.ProcessId);
            Add(cmd, "started_at", instance.StartedAt.ToUnixTimeMilliseconds());
            Add(cmd, "now", now.ToUnixTimeMilliseconds());
            return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);
    }

    /// <summary>Every recorded instance, with its last heartbeat.</summary>
    public async Task<IReadOnlyList<(OutboxInstance Instance, DateTimeOffset HeartbeatAt)>> ListInstancesAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = Command(connection, null, "SELECT worker_id, machine, pid, started_at, heartbeat_at FROM outbox_instances ORDER BY worker_id");
        var list = new List<(OutboxInstance, DateTimeOffset)>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            list.Add((new OutboxInstance(r.GetString(0), r.GetString(1), Convert.ToInt32(r.GetValue(2), System.Globalization.CultureInfo.InvariantCulture), Time(r.GetInt64(3))), Time(r.GetInt64(4))));
        }

        return list;
    }

    /// <summary>
    /// Gives back at once what the (dead) <paramref name="workerId"/> holds, and forgets the instance:
    /// its claimed commands are pending again, due as they were. The claim stays counted, so a command
    /// that kills its worker each time still ends in the dead letters. Returns how many were released.
    /// </summary>
    public Task<int> ReleaseClaimsAsync(string workerId, string reason, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(workerId);
        ArgumentNullException.ThrowIfNull(reason);
        return WriteAsync(async (connection, tx, ct) =>
        {
            await using var release = Command(connection, tx, ReleaseSql + " AND claimed_by = @worker");
            Add(release, "worker", workerId);
            Add(release, "error", reason);
            var released = await release.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            await using var forget = Command(connection, tx, "DELETE FROM outbox_instances WHERE worker_id = @worker");
            Add(forget, "worker", workerId);
            await forget.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return released;
        }, cancellationToken);
    }

    /// <summary>
    /// Gives back what every instance whose last heartbeat is before <paramref name="lapsedBefore"/> (on
    /// the store's clock) holds, and forgets those instances; one that was only paused records itself
    /// again at its next heartbeat. Returns the worker ids whose claims were released, with how many.
    /// </summary>
    public Task<IReadOnlyList<(string WorkerId, int Released)>> ReleaseLapsedAsync(DateTimeOffset lapsedBefore, CancellationToken cancellationToken) =>
        WriteAsync<IReadOnlyList<(string, int)>>(async (connection, tx, ct) =>
        {
            var lapsed = new List<string>();
            await using (var find = Command(connection, tx, "SELECT worker_id FROM outbox_instances WHERE heartbeat_at < @before ORDER BY worker_id" + LapsedLockClause))
            {
                Add(find, "before", lapsedBefore.ToUnixTimeMilliseconds());
                await using var r = await find.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await r.ReadAsync(ct).ConfigureAwait(false))
                {
                    lapsed.Add(r.GetString(0));
                }
            }

            var result = new List<(string, int)>();
            foreach (var worker in lapsed)
            {
                await using var release = Command(connection, tx, ReleaseSql + " AND claimed_by = @worker");
                Add(release, "worker", worker);
                Add(release, "error", $"Released: {worker}, which claimed it, stopped beating.");
                var released = await release.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                await using var forget = Command(connection, tx, "DELETE FROM outbox_instances WHERE worker_id = @worker");
                Add(forget, "worker", worker);
                await forget.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                if (released > 0)
                {
                    result.Add((worker, released));
                }
            }

            return result;
        }, cancellationToken);

    /// <summary>
    /// The row lock on lapsed instances (PostgreSQL: two instances releasing at once take turns, and an
    /// instance renewing its heartbeat meanwhile waits and then finds itself forgotten, so records itself again).
    /// </summary>
    protected virtual string LapsedLockClause => string.Empty;

    // Not an attempt: the command was never known to fail. next_attempt_at is when it was due, so it is due now.
    private const string ReleaseSql = """
        UPDATE outbox SET status = 'pending', claimed_by = NULL, lease_until = NULL, last_error = @error
        WHERE status = 'claimed'
        """;

    /// <inheritdoc/>
    public abstract ValueTask DisposeAsync();

    private static async Task<List<OutboxEntry>> ReadEntriesAsync(DbCommand cmd, CancellationToken ct)
    {
        var list = new List<OutboxEntry>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            list.Add(new OutboxEntry(
                r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4),
                ParseStatus(r.GetString(5)), r.GetInt32(6),
                Time(r.GetInt64(7)), Time(r.GetInt64(8)),
                r.IsDBNull(9) ? null : r.GetString(9),
                r.IsDBNull(10) ? null : Time(r.GetInt64(10)),
                r.IsDBNull(11) ? null : r.GetString(11),
                r.IsDBNull(12) ? null : Time(r.GetInt64(12)))
            {
                Claims = r.GetInt32(13),
            });
        }

        return list;
    }

    private static DateTimeOffset Time(long unixMilliseconds) => DateTimeOffset.FromUnixTimeMilliseconds(unixMilliseconds);

    private static string StatusText(OutboxStatus status) => status switch
    {
        OutboxStatus.Pending => "pending",
        OutboxStatus.Claimed => "claimed",
        OutboxStatus.Done => "done",
        OutboxStatus.Dead => "dead",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };

    private static OutboxStatus ParseStatus(string text) => text switch
    {
        "pending" => OutboxStatus.Pending,
        "claimed" => OutboxStatus.Claimed,
        "done" => OutboxStatus.Done,
        "dead" => OutboxStatus.Dead,
        _ => throw new InvalidOperationException($"Unknown outbox status '{text}'."),
    };


}
