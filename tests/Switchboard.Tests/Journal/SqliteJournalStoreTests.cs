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

    // Dedup keys are a second and a hash: random within a second. A unique index on them dirtied one
    // index page per event of a commit; the keys now go to event_dedup in sorted groups (SqliteDedup).
    [Fact]
    public async Task A_new_journal_keeps_its_dedup_keys_in_event_dedup_not_in_a_unique_index_on_events()
    {
        await Store.AppendAsync([Event("m1", "k")], default);

        var indexes = await QueryAsync("SELECT name, \"unique\" FROM pragma_index_list('events')");
        indexes.Should().NotContain(row => (long)row[1]! == 1, "no unique index on events: its pages were written once per event");
        (await QueryAsync("SELECT name FROM sqlite_schema WHERE name = 'event_dedup'")).Should().ContainSingle();
    }

    [Fact]
    public async Task Keys_kept_only_in_memory_when_the_process_died_are_recovered_at_start()
    {
        // Never flushed: the keys are only in the first store's memory when it goes away (as in a crash).
        await using (var first = new SqliteJournalStore(DbPath, null, TimeSpan.FromSeconds(30), 4096, 16384, dedupFlushKeys: 1_000_000))
        {
            await first.InitializeAsync(default);
            (await first.AppendAsync([Event("m1", "a"), Event("m1", "b")], default)).Should().OnlyContain(r => r.Status == AppendStatus.Stored);
        }

        (await QueryAsync("SELECT dedup_key FROM event_dedup")).Should().BeEmpty("the keys were never written to event_dedup");

        await using var second = new SqliteJournalStore(DbPath);
        await second.InitializeAsync(default);
        var again = await second.AppendAsync([Event("m1", "b"), Event("m1", "c")], default);

        again.Select(r => r.Status).Should().Equal(AppendStatus.Duplicate, AppendStatus.Stored);
        (await second.CountEventsAsync(default)).Should().Be(3);
        (await QueryAsync("SELECT dedup_key FROM event_dedup ORDER BY dedup_key")).Select(r => (string)r[0]!).Should().Equal("a", "b");
    }

    [Fact]
    public async Task Keys_go_to_event_dedup_in_groups_and_copies_of_old_events_are_still_found_there()
    {
        await using var store = new SqliteJournalStore(DbPath, null, TimeSpan.FromSeconds(30), 4096, 16384, dedupFlushKeys: 8);
        await store.InitializeAsync(default);
        var ids = new Dictionary<string, long>();
        for (var batch = 0; batch < 10; batch++)
        {
            var keys = Enumerable.Range(0, 3).Select(i => $"key-{batch * 3 + i:D2}").ToList();
            var results = await store.AppendAsync(keys.Select(k => Event("m1", k)).ToList(), default);
            for (var i = 0; i < keys.Count; i++)
            {
                ids[keys[i]] = results[i].Id!.Value;
            }
        }

        var flushed = (await QueryAsync("SELECT dedup_key, id FROM event_dedup")).ToDictionary(r => (string)r[0]!, r => (long)r[1]!);
        flushed.Count.Should().BeInRange(24, 29, "written in groups of at least 8; the last few are still in memory");
        flushed.Should().OnlyContain(kv => ids[kv.Key] == kv.Value);
        var through = long.Parse((string)(await QueryAsync("SELECT value FROM meta WHERE key = 'dedup_through'"))[0][0]!, System.Globalization.CultureInfo.InvariantCulture);
        through.Should().Be(flushed.Values.Max(), "dedup_through names the last row whose key is in event_dedup");

        var copies = await store.AppendAsync([Event("m1", "key-00"), Event("m1", "key-29"), Event("m1", "new")], default);

        copies.Select(r => r.Status).Should().Equal(AppendStatus.Duplicate, AppendStatus.Duplicate, AppendStatus.Stored);
        copies[0].Id.Should().Be(ids["key-00"]);
        copies[1].Id.Should().Be(ids["key-29"]);
        (await store.CountEventsAsync(default)).Should().Be(31);
    }

    [Fact]
    public async Task An_event_appended_by_another_process_is_a_duplicate_here_and_a_rolled_back_one_is_not()
    {
        await Store.AppendAsync([Event("m1", "mine")], default);
        await using var other = OpenSameStore();
        await other.InitializeAsync(default);
        var theirs = await other.AppendAsync([Event("m1", "theirs")], default);

        (await Store.AppendAsync([Event("m1", "theirs")], default))[0].Should().Be(new AppendResult(AppendStatus.Duplicate, theirs[0].Id));
        (await other.AppendAsync([Event("m1", "mine")], default))[0].Status.Should().Be(AppendStatus.Duplicate);

        // A batch that fails half way is rolled back, and so are the keys it inserted.
        await ExecuteAsync("CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.dedup_key = 'boom' BEGIN SELECT RAISE(ABORT, 'refused'); END");
        var failing = () => Store.AppendAsync([Event("m1", "rolled-back"), Event("m1", "boom")], default);
        await failing.Should().ThrowAsync<SqliteException>();
        await ExecuteAsync("DROP TRIGGER refuse");

        (await Store.AppendAsync([Event("m1", "rolled-back")], default))[0].Status.Should().Be(AppendStatus.Stored);
        (await Store.CountEventsAsync(default)).Should().Be(3);
    }

    [Fact]
    public async Task A_second_writer_that_flushed_its_keys_is_not_read_back_whole_and_its_events_are_still_duplicates()
    {
        var store = (SqliteJournalStore)Store;
        await Store.AppendAsync([Event("m1", "mine")], default);
        await using (var other = new SqliteJournalStore(DbPath, null, TimeSpan.FromSeconds(30), 4096, 16384, dedupFlushKeys: 8))
        {
            await other.InitializeAsync(default);
            for (var i = 0; i < 100; i++)
            {
                await other.AppendAsync([Event("m1", $"theirs-{i:D3}")], default);
            }
        }

        var copies = await Store.AppendAsync([Event("m1", "theirs-000"), Event("m1", "theirs-050"), Event("m1", "theirs-099"), Event("m1", "new")], default);

        copies.Select(c => c.Status).Should().Equal(AppendStatus.Duplicate, AppendStatus.Duplicate, AppendStatus.Duplicate, AppendStatus.Stored);
        store.DedupRowsLoadedFromOthers.Should().BeLessThanOrEqualTo(8, "rows up to the other writer's dedup_through are found in event_dedup, not loaded");
        (await Store.AppendAsync([Event("m1", "mine")], default))[0].Status.Should().Be(AppendStatus.Duplicate);
        (await Store.CountEventsAsync(default)).Should().Be(102);
    }

    [Fact]
    public async Task A_journal_file_moved_under_the_checkpointer_is_counted_as_a_failed_checkpoint_and_not_created_again()
    {
        var path = Path.Combine(_dir.Path, "moved.db");
        await using var store = new SqliteJournalStore(path, null, TimeSpan.FromMilliseconds(200), 4096, 16384);
        await store.InitializeAsync(default);
        (await store.AppendAsync([Event("m1", "before")], default))[0].Status.Should().Be(AppendStatus.Stored);

        // Wait for a round that opened the checkpointer's connection, then move the file under it.
        await PortalLab.WaitUntilAsync(() => store.WalFrames > 0, "a checkpoint round has run", TimeSpan.FromSeconds(10));

        File.Move(path, path + ".old");
        await PortalLab.WaitUntilAsync(() => store.CheckpointFailures >= 2, "two checkpoint rounds have failed", TimeSpan.FromSeconds(10));

        store.CheckpointFailures.Should().BeGreaterThanOrEqualTo(2, "the open connection sees the move, and the next one cannot open the file");
        store.LastCheckpointError.Should().NotBeNullOrWhiteSpace();
        File.Exists(path).Should().BeFalse("no connection creates the file again");
        File.Move(path + ".old", path);
        (await store.AppendAsync([Event("m1", "after")], default))[0].Status.Should().Be(AppendStatus.Stored);
    }

    [Fact]
    public async Task A_journal_file_deleted_under_the_writer_fails_every_commit_and_is_not_created_again()
    {
        await Store.AppendAsync([Event("m1", "before")], default);

        File.Delete(DbPath);
        var append = () => Store.AppendAsync([Event("m1", "into-a-ghost")], default);

        (await append.Should().ThrowAsync<IOException>()).WithMessage("*deleted or moved*");
        await append.Should().ThrowAsync<SqliteException>("the reopened writer does not create an empty file");
        await Store.Invoking(s => s.CheckWritableAsync(default)).Should().ThrowAsync<SqliteException>();
        File.Exists(DbPath).Should().BeFalse();
    }

    [Fact]
    public async Task After_a_failed_transaction_the_writer_starts_on_a_fresh_connection_not_a_pooled_one()
    {
        var path = Path.Combine(_dir.Path, "writer.db");
        await using var writer = new Switchboard.Storage.SqliteWriter($"Data Source={path}", "PRAGMA journal_mode = WAL");
        async Task<long> CacheSizeAsync() => await writer.WriteAsync(async (c, tx, ct) =>
        {
            await using var read = c.CreateCommand();
            read.Transaction = tx;
            read.CommandText = "PRAGMA cache_size";
            return Convert.ToInt64(await read.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture);
        }, default);
        var initial = await CacheSizeAsync();

        var failing = () => writer.WriteAsync<int>(async (c, tx, ct) =>
        {
            await using var set = c.CreateCommand();
            set.Transaction = tx;
            set.CommandText = "PRAGMA cache_size = 1234";
            await set.ExecuteNonQueryAsync(ct);
            throw new IOException("disk gone");
        }, default);
        await failing.Should().ThrowAsync<IOException>();

        (await CacheSizeAsync()).Should().Be(initial, "the connection that failed carried a state of its own and was thrown away");
    }

    [Fact]
    public async Task An_insert_that_stores_no_row_fails_the_batch_instead_of_answering_with_another_rows_id()
    {
        var before = await Store.AppendAsync([Event("m1", "before")], default);
        await ExecuteAsync("CREATE TRIGGER swallow BEFORE INSERT ON events WHEN NEW.dedup_key = 'swallowed' BEGIN SELECT RAISE(IGNORE); END");

        var swallowed = () => Store.AppendAsync([Event("m1", "swallowed")], default);

        await swallowed.Should().ThrowAsync<SqliteException>("the event was not stored, and must not be acknowledged as row {0}", before[0].Id);
        await ExecuteAsync("DROP TRIGGER swallow");
        (await Store.AppendAsync([Event("m1", "swallowed")], default))[0].Status.Should().Be(AppendStatus.Stored);
    }

    [Fact]
    public async Task A_journal_made_with_the_unique_index_on_events_still_stores_each_event_once()
    {
        // Journals created before event_dedup: the unique index stays (SQLite cannot drop it in place),
        // and such a file goes on deduplicating through it, without event_dedup: copying every key at
        // start would hold the write lock as long as the journal is large. (A file of its own: the suite's store
        // has already created the current schema in DbPath.)
        var oldPath = Path.Combine(_dir.Path, "old.db");
        await ExecuteAsync("""
            PRAGMA journal_mode = WAL;
            CREATE TABLE events (id INTEGER PRIMARY KEY, received_at BIGINT NOT NULL, member_id TEXT NOT NULL, event_name TEXT NOT NULL,
                call_id TEXT, handler_id BIGINT, sent_at BIGINT, content_type TEXT NOT NULL, body TEXT NOT NULL, dedup_key TEXT NOT NULL UNIQUE);
            INSERT INTO events (received_at, member_id, event_name, content_type, body, dedup_key) VALUES (1, 'm1', 'ONAPPINSTALL', 'x', 'b', 'old');
            """, oldPath);

        await using var store = new SqliteJournalStore(oldPath);
        await store.InitializeAsync(default);

        var results = await store.AppendAsync([Event("m1", "old"), Event("m1", "new"), Event("m1", "new")], default);

        results.Select(r => r.Status).Should().Equal(AppendStatus.Duplicate, AppendStatus.Stored, AppendStatus.Duplicate);
        results[0].Id.Should().Be(1);
        (await store.CountEventsAsync(default)).Should().Be(2);
        (await QueryAsync("SELECT name FROM sqlite_schema WHERE name = 'event_dedup'", oldPath)).Should().BeEmpty("an old journal is not copied into event_dedup");
    }

    private async Task<List<object?[]>> QueryAsync(string sql, string? path = null)
    {
        await using var connection = new SqliteConnection($"Data Source={path ?? DbPath};Pooling=False");
        await connection.OpenAsync();
        await using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        await using var reader = await cmd.ExecuteReaderAsync();
        var rows = new List<object?[]>();
        while (await reader.ReadAsync())
        {
            var row = new object?[reader.FieldCount];
            reader.GetValues(row!);
            rows.Add(row);
        }

        return rows;
    }

    private async Task ExecuteAsync(string sql, string? path = null)
    {
        await using var connection = new SqliteConnection($"Data Source={path ?? DbPath};Pooling=False");
        await connection.OpenAsync();
        await using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        await cmd.ExecuteNonQueryAsync();
    }

    // A checkpoint on another connection never catches up with a writer that commits back to back, and
    // SQLite restarts the WAL only when a write begins with every frame copied: without either
    // mechanism below, these 19,200 events of 1 KB leave a WAL of over 40 MB.
    [Theory]
    [InlineData("the checkpointer asks the writer to finish its checkpoint", 64, 1_000_000, 16)]
    [InlineData("the writer's automatic checkpoint, when the checkpointer does not ask", 1_000_000, 1024, 8)]
    public async Task Under_commits_back_to_back_the_WAL_starts_over_instead_of_growing_without_end(string how, int walRestartFrames, int walMaxFrames, int maxMegabytes)
    {
        await using var store = new SqliteJournalStore(DbPath, null, TimeSpan.FromMilliseconds(20), walRestartFrames, walMaxFrames);
        await store.InitializeAsync(default);
        var body = System.Text.Encoding.UTF8.GetBytes("event=ONVOXIMPLANTCALLEND&data%5BCALL_ID%5D=x&data%5BPAD%5D=" + new string('p', 1000));
        var stored = 0;
        for (var batch = 0; batch < 800; batch++)
        {
            // Dedup keys as random as real ones.
            var appends = Enumerable.Range(0, 24)
                .Select(i => Event("m1", Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(batch * 24 + i)))) with { Body = body })
                .ToList();
            stored += (await store.AppendAsync(appends, default)).Count(r => r.Status == AppendStatus.Stored);
        }

        stored.Should().Be(19_200);
        (await store.CountEventsAsync(default)).Should().Be(19_200);
        store.WalFrames.Should().BePositive("the checkpointer reports the log it saw");
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
                ALTER TABLE portals DROP COLUMN uninstalled_token_hash;
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
        (await cmd.ExecuteScalarAsync()).Should().Be("4");
        cmd.CommandText = "SELECT COUNT(*) FROM pragma_table_info('portals') WHERE name IN ('needs_reauth', 'install_refused', 'uninstalled_token_hash')";
        (await cmd.ExecuteScalarAsync()).Should().Be(3L);
        cmd.CommandText = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('portal_setup', 'portal_users')";
        (await cmd.ExecuteScalarAsync()).Should().Be(2L);
    }

    [Fact]
    public async Task A_body_is_stored_as_TEXT_not_as_a_BLOB()
    {
        // The body is bound from its UTF-8 bytes; bound as a blob it would read back the same through
        // Microsoft.Data.Sqlite but compare and LIKE as bytes in SQL. Both write paths.
        await Store.AppendAsync([Event("m1", "k-text")], default);
        await Store.AppendAsync([Event("m2", "k-install", name: "ONAPPINSTALL", callId: null, change: Install("m2", Hash('2')))], default);

        await using var connection = new SqliteConnection($"Data Source={DbPath};Pooling=False");
        await connection.OpenAsync();
        await using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT group_concat(DISTINCT typeof(body)) FROM events";
        (await cmd.ExecuteScalarAsync()).Should().Be("text");
    }
}
