using Microsoft.Data.Sqlite;
using Switchboard.Journal;
using Switchboard.Journal.Sqlite;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Journal;

public sealed class SqliteJournalStoreTests : JournalStoreContract
{
    private readonly TempDirectory _dir = new();

    private string DbPath => Path.Combine(_dir.Path, "switchboard.db");

    protected override Task<IJournalStore> CreateStoreAsync() => Task.FromResult<IJournalStore>(new SqliteJournalStore(DbPath));

    protected override IJournalStore OpenSameStore() => new SqliteJournalStore(DbPath);

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _dir.Dispose();
    }

    [Fact]
    public async Task The_file_is_in_WAL_mode_and_the_writer_commits_with_synchronous_FULL()
    {
        await Store.AppendAsync([Event("m1", "k")], default);

        await using var connection = new SqliteConnection($"Data Source={DbPath}");
        await connection.OpenAsync();
        await using var cmd = connection.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode";
        (await cmd.ExecuteScalarAsync()).Should().Be("wal");
        File.Exists(DbPath + "-wal").Should().BeTrue("a WAL journal is in use");
    }

    // A checkpoint on another connection never catches up with a writer that commits back to back, and
    // SQLite restarts the WAL only when a write begins with every frame copied: without either
    // mechanism below, these 12,000 events of 1 KB leave ~48 MB of WAL (about 4 KiB per event).
    [Theory]
    [InlineData("the checkpointer asks the writer to finish its checkpoint", 64, 1_000_000, 16)]
    [InlineData("the writer's automatic checkpoint, when the checkpointer does not ask", 1_000_000, 1024, 8)]
    public async Task Under_commits_back_to_back_the_WAL_starts_over_instead_of_growing_without_end(string how, int walRestartFrames, int walMaxFrames, int maxMegabytes)
    {
        await using var store = new SqliteJournalStore(DbPath, null, TimeSpan.FromMilliseconds(20), walRestartFrames, walMaxFrames);
        await store.InitializeAsync(default);
        var body = "event=ONVOXIMPLANTCALLEND&data%5BCALL_ID%5D=x&data%5BPAD%5D=" + new string('p', 1000);
        var stored = 0;
        for (var batch = 0; batch < 500; batch++)
        {
            // Dedup keys as random as real ones: each insert lands on its own page of the unique index.
            var appends = Enumerable.Range(0, 24)
                .Select(i => Event("m1", Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(batch * 24 + i)))) with { Body = body })
                .ToList();
            stored += (await store.AppendAsync(appends, default)).Count(r => r.Status == AppendStatus.Stored);
        }

        stored.Should().Be(12_000);
        (await store.CountEventsAsync(default)).Should().Be(12_000);
        new FileInfo(DbPath + "-wal").Length.Should().BeLessThan(maxMegabytes * 1024L * 1024, how);
    }

    [Fact]
    public async Task A_write_lock_held_by_another_process_makes_the_append_fail_not_hang_and_it_recovers()
    {
        await using var store = new SqliteJournalStore(DbPath, busyTimeout: TimeSpan.FromSeconds(1));
        await store.InitializeAsync(default);
        await using (var blocker = new SqliteConnection($"Data Source={DbPath};Pooling=False"))
        {
            await blocker.OpenAsync();
            await using var begin = blocker.CreateCommand();
            begin.CommandText = "BEGIN EXCLUSIVE";
            await begin.ExecuteNonQueryAsync();

            var append = () => store.AppendAsync([Event("m1", "blocked")], default);

            await append.Should().ThrowAsync<SqliteException>();
        }

        (await store.AppendAsync([Event("m1", "after")], default))[0].Status.Should().Be(AppendStatus.Stored);
        (await store.CountEventsAsync(default)).Should().Be(1);
    }

    [Fact]
    public async Task A_version_1_journal_is_migrated_in_place_and_keeps_its_rows()
    {
        await Store.AppendAsync([Event("m1", "kept")], default);
        await using (var v1 = new SqliteConnection($"Data Source={DbPath};Pooling=False"))
        {
            await v1.OpenAsync();
            await using var downgrade = v1.CreateCommand();
            downgrade.CommandText = """
                ALTER TABLE portals DROP COLUMN needs_reauth; ALTER TABLE portals DROP COLUMN install_refused;
                DROP TABLE portal_setup; DROP TABLE portal_users;
                UPDATE meta SET value = '1' WHERE key = 'schema_version';
                """;
            await downgrade.ExecuteNonQueryAsync();
        }

        await using var reopened = new SqliteJournalStore(DbPath);
        await reopened.InitializeAsync(default);

        (await reopened.CountEventsAsync(default)).Should().Be(1);
        await using var check = new SqliteConnection($"Data Source={DbPath};Pooling=False");
        await check.OpenAsync();
        await using var cmd = check.CreateCommand();
        cmd.CommandText = "SELECT value FROM meta WHERE key = 'schema_version'";
        (await cmd.ExecuteScalarAsync()).Should().Be("3");
        cmd.CommandText = "SELECT COUNT(*) FROM pragma_table_info('portals') WHERE name IN ('needs_reauth', 'install_refused')";
        (await cmd.ExecuteScalarAsync()).Should().Be(2L);
        cmd.CommandText = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('portal_setup', 'portal_users')";
        (await cmd.ExecuteScalarAsync()).Should().Be(2L);
    }
}
