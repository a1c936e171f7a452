using System.Data.Common;
using Microsoft.Data.Sqlite;
using Switchboard.Outbox;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Outbox;

public sealed class SqliteOutboxStoreTests : OutboxStoreContract
{
    private readonly TempDirectory _dir = new();

    private string DbPath => Path.Combine(_dir.Path, "switchboard.db");

    protected override Task<IOutboxStore> CreateStoreAsync() => Task.FromResult<IOutboxStore>(new SqliteOutboxStore(DbPath));

    protected override IOutboxStore OpenSameStore() => new SqliteOutboxStore(DbPath);

    protected override async Task<DbConnection> OpenConnectionAsync()
    {
        var connection = new SqliteConnection($"Data Source={DbPath};Default Timeout=5");
        await connection.OpenAsync();
        return connection;
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _dir.Dispose();
    }

    [Fact]
    public async Task Four_claimers_sharing_one_store_instance_complete_each_of_1000_items_exactly_once()
    {
        await ClaimEverythingConcurrentlyAsync(Enumerable.Range(0, 4).Select(i => (Store, $"worker-{i}")).ToList());
    }

    [Fact]
    public async Task Four_claimers_on_two_store_instances_on_the_same_file_complete_each_of_1000_items_exactly_once()
    {
        await using var other = OpenSameStore();
        await other.InitializeAsync(default);

        await ClaimEverythingConcurrentlyAsync([(Store, "a-0"), (Store, "a-1"), (other, "b-0"), (other, "b-1")]);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(6)]
    public async Task A_claim_for_some_kinds_searches_only_their_pending_rows_not_every_pending_row(int kinds)
    {
        // With 18,000 pbx.originate commands waiting for a PBX connector, every claim of the six
        // bitrix24.* and set-up kinds walked them all through outbox_status (6 ms a claim). The plan must
        // reach pending rows through (kind, next_attempt_at) and expired leases through lease_until.
        await Store.EnqueueAsync([Item("a")], default);
        var plan = await ClaimPlanAsync(((SqlOutboxStore)Store).ClaimSqlFor(kinds), kinds);

        plan.Should().Contain(l => l.Contains("INDEX outbox_pending_kind_due (kind=? AND next_attempt_at<?)", StringComparison.Ordinal), string.Join("\n", plan));
        plan.Should().Contain(l => l.Contains("USING INDEX outbox_claimed_lease (lease_until<?)", StringComparison.Ordinal), string.Join("\n", plan));
        plan.Should().NotContain(l => l.Contains("outbox_status", StringComparison.Ordinal) || l.Contains("SCAN outbox", StringComparison.Ordinal), string.Join("\n", plan));
    }

    [Fact]
    public async Task A_claim_for_any_kind_walks_pending_rows_in_due_order()
    {
        await Store.EnqueueAsync([Item("a")], default);
        var plan = await ClaimPlanAsync(((SqlOutboxStore)Store).ClaimSqlFor(0), 0);

        plan.Should().Contain(l => l.Contains("INDEX outbox_pending_due (next_attempt_at<?)", StringComparison.Ordinal), string.Join("\n", plan));
        plan.Should().NotContain(l => l.Contains("outbox_status", StringComparison.Ordinal) || l.Contains("SCAN outbox", StringComparison.Ordinal), string.Join("\n", plan));
    }

    private async Task<List<string>> ClaimPlanAsync(string sql, int kinds)
    {
        await using var connection = await OpenConnectionAsync();
        await using var cmd = connection.CreateCommand();
        cmd.CommandText = "EXPLAIN QUERY PLAN " + sql;
        foreach (var name in new[] { "worker", "lease_until", "now", "max" }.Concat(Enumerable.Range(0, kinds).Select(i => $"kind{i}")))
        {
            var p = cmd.CreateParameter();
            p.ParameterName = "@" + name;
            p.Value = name.StartsWith("kind", StringComparison.Ordinal) ? "bitrix24.finish" : 1L;
            cmd.Parameters.Add(p);
        }

        var plan = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync())
        {
            plan.Add(r.GetString(3));
        }

        return plan;
    }

    [Fact]
    public async Task The_file_is_in_WAL_mode()
    {
        await Store.EnqueueAsync([Item("a")], default);

        (await PragmaAsync(DbPath, "journal_mode")).Should().Be("wal");
    }

    [Fact]
    public async Task A_file_the_store_creates_has_16_KiB_pages()
    {
        await Store.EnqueueAsync([Item("a")], default);

        (await PragmaAsync(DbPath, "page_size")).Should().Be(16384L);
    }

    [Fact]
    public async Task A_file_created_before_with_4_KiB_pages_keeps_them_and_takes_commands()
    {
        var old = Path.Combine(_dir.Path, "old.db");
        await using (var create = new SqliteConnection($"Data Source={old}"))
        {
            await create.OpenAsync();
            await using var cmd = create.CreateCommand();
            cmd.CommandText = "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE earlier (x INTEGER)";
            await cmd.ExecuteNonQueryAsync();
        }

        SqliteConnection.ClearAllPools();
        await using var store = new SqliteOutboxStore(old);
        await store.InitializeAsync(default);
        (await store.EnqueueAsync([Item("a"), Item("b")], default)).Should().Be(2);

        (await PragmaAsync(old, "page_size")).Should().Be(4096L);
        (await PragmaAsync(old, "journal_mode")).Should().Be("wal");
    }

    private static async Task<object?> PragmaAsync(string path, string pragma)
    {
        await using var connection = new SqliteConnection($"Data Source={path}");
        await connection.OpenAsync();
        await using var cmd = connection.CreateCommand();
        cmd.CommandText = "PRAGMA " + pragma;
        return await cmd.ExecuteScalarAsync();
    }

    [Fact]
    public async Task A_write_lock_held_by_another_connection_makes_a_claim_fail_not_hang_and_the_store_recovers()
    {
        await using var store = new SqliteOutboxStore(DbPath, busyTimeout: TimeSpan.FromSeconds(1));
        await store.InitializeAsync(default);
        await store.EnqueueAsync([Item("a")], default);
        await using (var blocker = new SqliteConnection($"Data Source={DbPath};Pooling=False"))
        {
            await blocker.OpenAsync();
            await using var begin = blocker.CreateCommand();
            begin.CommandText = "BEGIN IMMEDIATE";
            await begin.ExecuteNonQueryAsync();

            var claim = () => store.ClaimAsync("w1", 10, Lease, T0, default);

            await claim.Should().ThrowAsync<SqliteException>();
        }

        (await store.ClaimAsync("w1", 10, Lease, T0, default)).Should().ContainSingle();
    }
}
