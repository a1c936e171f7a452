using System.Data.Common;
using Switchboard.Outbox;
using static Switchboard.Storage.Sql;

namespace Switchboard.Calls;

/// <summary>Who holds a PBX's AMI connection, until when, and what the holder last said about it.</summary>
/// <param name="Name">The PBX's name in the settings.</param>
/// <param name="Holder">The instance (machine:pid, or Switchboard:Outbox:WorkerId).</param>
/// <param name="LeaseUntil">When the lease lapses unless renewed (the database's clock).</param>
/// <param name="RenewedAt">The holder's last renewal: while it held the connection, the PBX was watched up to here.</param>
/// <param name="Status">The holder's status report (JSON), or null.</param>
public sealed record PbxLease(string Name, string Holder, DateTimeOffset LeaseUntil, DateTimeOffset RenewedAt, string? Status);

/// <summary>What <see cref="SqlCallStore.TryHoldPbxAsync"/> found and did.</summary>
/// <param name="Held">True when the caller holds the lease now.</param>
/// <param name="Previous">The lease as it was before (another holder's, lapsed or not), or null.</param>
public sealed record PbxLeaseResult(bool Held, PbxLease? Previous);

/// <summary>The PBX connector's part of the ledger's database: its leases, facts in batches, the open calls.</summary>
public abstract partial class SqlCallStore
{
    /// <summary>One row per PBX: on PostgreSQL several instances compete for each connection; on SQLite the one instance holds them all.</summary>
    private const string PbxLeasesTable = """
        CREATE TABLE IF NOT EXISTS pbx_leases (
            name        TEXT PRIMARY KEY,
            holder      TEXT NOT NULL,
            lease_until BIGINT NOT NULL,
            renewed_at  BIGINT NOT NULL,
            status      TEXT)
        """;

    /// <summary>
    /// Takes or renews the lease on a PBX's connection for <paramref name="holder"/> until
    /// <paramref name="until"/>: granted when nobody holds it, the caller already does, or the holder's
    /// lease lapsed before <paramref name="now"/> (both on the database's clock, <see cref="StoreClock"/>).
    /// The status report is stored with it. With <paramref name="takeOver"/> it is granted whoever holds it:
    /// for a store only one instance uses (SQLite), whose previous holder can only be a dead process.
    /// </summary>
    public Task<PbxLeaseResult> TryHoldPbxAsync(string name, string holder, DateTimeOffset now, DateTimeOffset until, string? status, CancellationToken cancellationToken, bool takeOver = false) =>
        WriteAsync(async (connection, tx, ct) =>
        {
            PbxLease? previous = null;
            await using (var read = Command(connection, tx, "SELECT name, holder, lease_until, renewed_at, status FROM pbx_leases WHERE name = @name" + ForUpdateClause))
            {
                Add(read, "name", name);
                var rows = await ReadLeasesAsync(read, ct).ConfigureAwait(false);
                previous = rows.Count > 0 ? rows[0] : null;
            }

            // The condition is in the statement, not only in the code above: on PostgreSQL the row lock
            // makes the two agree, and the statement stays right even where there is none.
            await using var upsert = Command(connection, tx, """
                INSERT INTO pbx_leases (name, holder, lease_until, renewed_at, status) VALUES (@name, @holder, @until, @now, @status)
                ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until,
                    renewed_at = excluded.renewed_at, status = excluded.status
                WHERE pbx_leases.holder = excluded.holder OR pbx_leases.lease_until < excluded.renewed_at OR @take_over = 1
                """);
            Add(upsert, "take_over", takeOver ? 1 : 0);
            Add(upsert, "name", name);
            Add(upsert, "holder", holder);
            Add(upsert, "until", until.ToUnixTimeMilliseconds());
            Add(upsert, "now", now.ToUnixTimeMilliseconds());
            Add(upsert, "status", (object?)status ?? DBNull.Value);
            var held = await upsert.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
            return new PbxLeaseResult(held, previous);
        }, cancellationToken);

    /// <summary>Gives the lease up (a clean stop), with a last status, so another instance can take over at once.</summary>
    public Task ReleasePbxAsync(string name, string holder, string? status, CancellationToken cancellationToken) =>
        WriteAsync(async (connection, tx, ct) =>
        {
            await using var cmd = Command(connection, tx, "UPDATE pbx_leases SET lease_until = 0, status = @status WHERE name = @name AND holder = @holder");
            Add(cmd, "name", name);
            Add(cmd, "holder", holder);
            Add(cmd, "status", (object?)status ?? DBNull.Value);
            return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);

    /// <summary>Every PBX lease row.</summary>
    public async Task<IReadOnlyList<PbxLease>> ListPbxLeasesAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = Command(connection, null, "SELECT name, holder, lease_until, renewed_at, status FROM pbx_leases ORDER BY name");
        return await ReadLeasesAsync(cmd, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<IReadOnlyList<PbxLease>> ReadLeasesAsync(DbCommand cmd, CancellationToken ct)
    {
        var list = new List<PbxLease>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            list.Add(new PbxLease(
                r.GetString(0), r.GetString(1),
                DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(2)), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3)),
                r.IsDBNull(4) ? null : r.GetString(4)));
        }

        return list;
    }

    /// <summary>The calls of a portal that are not over yet (no end known), oldest first.</summary>
    public async Task<IReadOnlyList<CallRecord>> ListOpenAsync(string memberId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = Command(connection, null, "SELECT record, updated_at FROM calls WHERE member_id = @member_id AND ended_at IS NULL ORDER BY call_key");
        Add(cmd, "member_id", memberId);
        var calls = await ReadCallsAsync(cmd, cancellationToken).ConfigureAwait(false);
        return [.. calls.Select(c => c.Record).Where(r => !r.EndKnown)];
    }

    /// <summary>
    /// Folds PBX facts into their calls in ONE transaction, in order, with the commands they cause: what
    /// the connector learnt from a burst of AMI events is committed before anything acts on it, and a
    /// fact that arrives twice changes nothing (<see cref="CallLedger.Apply"/>). Facts about calls the
    /// ledger does not have are skipped (<see cref="CallRegistered"/> creates one).
    /// </summary>
    /// <returns>The facts applied and the commands that were new.</returns>
    public Task<(int Applied, int Commands)> ApplyManyAsync(IReadOnlyList<(string MemberId, LedgerInput Input)> facts, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(facts);
        return WriteAsync(async (connection, tx, ct) =>
        {
            var records = await LoadRecordsAsync(connection, tx, facts.Select(f => (f.MemberId, f.Input.CallId)), ct).ConfigureAwait(false);
            var changed = new HashSet<(string MemberId, string CallId)>();
            var items = new List<OutboxItem>();
            var applied = 0;
            foreach (var (memberId, input) in facts)
            {
                var key = (memberId, input.CallId);
                var current = records.GetValueOrDefault(key);
                if (current is null && input is not CallRegistered)
                {
                    continue;
                }

                var (next, commands) = CallLedger.Apply(current, input);
                records[key] = next;
                changed.Add(key);
                applied++;
                foreach (var command in commands)
                {
                    items.Add(CallJson.ToOutboxItem(command, memberId, now));
                }
            }

            await SaveRecordsAsync(connection, tx, changed.Select(key => (key.MemberId, records[key])), now, ct).ConfigureAwait(false);
            var added = await outbox.EnqueueAsync(connection, tx, items, ct).ConfigureAwait(false);
            return (applied, added);
        }, cancellationToken);
    }
}
