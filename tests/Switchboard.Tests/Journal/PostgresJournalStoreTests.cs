using Switchboard.Journal;
using Switchboard.Journal.Postgres;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Journal;

public sealed class PostgresJournalStoreTests : JournalStoreContract
{
    private readonly PostgresDatabase _db = new();

    protected override async Task<IJournalStore> CreateStoreAsync()
    {
        await _db.InitializeAsync();
        return new PostgresJournalStore(_db.ConnectionString);
    }

    protected override IJournalStore OpenSameStore() => new PostgresJournalStore(_db.ConnectionString);

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _db.DisposeAsync();
    }

    [Fact]
    public async Task Instances_starting_together_create_the_schema_once_without_errors()
    {
        var init = () => Concurrently.InitializeAsync(4, OpenSameStore, s => s.InitializeAsync(default));

        await init.Should().NotThrowAsync();
    }
}
