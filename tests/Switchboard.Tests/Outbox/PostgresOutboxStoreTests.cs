using System.Data.Common;
using Npgsql;
using Switchboard.Outbox;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Outbox;

public sealed class PostgresOutboxStoreTests : OutboxStoreContract
{
    private readonly PostgresDatabase _db = new();

    protected override async Task<IOutboxStore> CreateStoreAsync()
    {
        await _db.InitializeAsync();
        return new PostgresOutboxStore(_db.ConnectionString);
    }

    // Each store object has its own NpgsqlDataSource: its own connection pool, like another instance.
    protected override IOutboxStore OpenSameStore() => new PostgresOutboxStore(_db.ConnectionString);

    protected override async Task<DbConnection> OpenConnectionAsync()
    {
        var connection = new NpgsqlConnection(_db.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _db.DisposeAsync();
    }

    [Fact]
    public async Task Instances_starting_together_create_the_outbox_once_without_errors()
    {
        var init = () => Concurrently.InitializeAsync(4, OpenSameStore, s => s.InitializeAsync(default));

        await init.Should().NotThrowAsync();
    }

    [Fact]
    public async Task A_claim_skips_rows_another_transaction_has_locked_instead_of_waiting()
    {
        await Store.EnqueueAsync([Item("a"), Item("b")], default);
        var a = (await Store.ListAsync(null, 10, default)).Single(e => e.Key == "a");
        await using var connection = await OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        await using (var lockRow = connection.CreateCommand())
        {
            lockRow.Transaction = tx;
            lockRow.CommandText = $"SELECT id FROM outbox WHERE id = {a.Id} FOR UPDATE";
            await lockRow.ExecuteScalarAsync();
        }

        var claimed = await Store.ClaimAsync("w1", 10, Lease, T0, default);

        claimed.Select(e => e.Key).Should().Equal("b");
        await tx.RollbackAsync();
        (await Store.ClaimAsync("w1", 10, Lease, T0, default)).Select(e => e.Key).Should().Equal("a");
    }
    [Fact]
    public async Task With_statistics_that_say_most_pending_rows_are_of_other_kinds_a_claim_walks_only_its_kinds()
    {
        // Written with an OR and a kind IN list, the claim walked outbox_pending_due through all 20,000
        // waiting pbx.originate rows and filtered them: PostgreSQL's statistics cannot tell that no
        // pending row is of the claimed kinds. Each kind is now an ordered range of outbox_pending_kind_due.
        await using var connection = await OpenConnectionAsync();
        await using (var fill = connection.CreateCommand())
        {
            fill.CommandText = """
                INSERT INTO outbox (kind, idempotency_key, member_id, payload, status, attempts, created_at, next_attempt_at)
                SELECT 'pbx.originate', 'originate:' || g, 'm1', '{}', 'pending', 0, g, g FROM generate_series(1, 20000) g;
                INSERT INTO outbox (kind, idempotency_key, member_id, payload, status, attempts, created_at, next_attempt_at, completed_at)
                SELECT 'bitrix24.finish', 'finish:' || g, 'm1', '{}', 'done', 0, g, g, g FROM generate_series(1, 20000) g;
                ANALYZE outbox;
                """;
            await fill.ExecuteNonQueryAsync();
        }

        var kinds = new[] { "bitrix24.finish", "bitrix24.register", "bitrix24.show", "bitrix24.hide", "bitrix24.attach", "portal.setup" };
        await using var explain = connection.CreateCommand();
        explain.CommandText = "EXPLAIN " + ((SqlOutboxStore)Store).ClaimSqlFor(kinds.Length);
        explain.Parameters.Add(new NpgsqlParameter("worker", "w1"));
        explain.Parameters.Add(new NpgsqlParameter("lease_until", 1L));
        explain.Parameters.Add(new NpgsqlParameter("now", 100_000L));
        explain.Parameters.Add(new NpgsqlParameter("max", 32L));
        for (var i = 0; i < kinds.Length; i++)
        {
            explain.Parameters.Add(new NpgsqlParameter($"kind{i}", kinds[i]));
        }

        var plan = new List<string>();
        await using (var r = await explain.ExecuteReaderAsync())
        {
            while (await r.ReadAsync())
            {
                plan.Add(r.GetString(0));
            }
        }

        var text = string.Join("\n", plan);
        plan.Count(l => l.Contains("Index Scan using outbox_pending_kind_due", StringComparison.Ordinal)).Should().Be(kinds.Length, text);
        text.Should().NotContain("outbox_pending_due ").And.NotContain("Seq Scan");
    }
}
