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
}
