using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;
using Switchboard.Bitrix24.Events;
using Switchboard.Calls;
using Switchboard.Journal;
using Switchboard.Outbox;
using Switchboard.Tests.Infrastructure;
using static Switchboard.Storage.Sql;

namespace Switchboard.Tests.Calls;

/// <summary>
/// A ledger of schema version 1 (calls keyed by portal and CALL_ID, a second index on the CALL_ID), as
/// the previous release created it, started on by this one, on SQLite and PostgreSQL: every call, the
/// cursor and the records are kept, the table is keyed by (call_key, member_id) with no CALL_ID index,
/// and a later start changes nothing. A ledger newer than this code is refused.
/// </summary>
public sealed class LedgerMigrationTests : IAsyncLifetime
{
    // The ledger's schema as SqlCallStore created it before 74be2cf (version 1), verbatim.
    private static readonly string[] Version1Schema =
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
        "CREATE TABLE IF NOT EXISTS ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "INSERT INTO ledger_meta (key, value) VALUES ('schema_version', '1') ON CONFLICT (key) DO NOTHING",
        "INSERT INTO ledger_cursor (name, position) VALUES ('journal', 0) ON CONFLICT (name) DO NOTHING",
    ];

    // Version 1's upsert, as it wrote a record.
    private const string Version1Insert = """
        INSERT INTO calls (call_id, member_id, record, requested_at, ended_at, updated_at)
        VALUES (@call_id, @member_id, @record, CAST(@requested_at AS BIGINT), CAST(@ended_at AS BIGINT), @updated_at)
        """;

    private const long Cursor = 4242;

    private static readonly DateTimeOffset T0 = new(2026, 3, 11, 14, 28, 46, TimeSpan.Zero);

    private readonly PostgresDatabase _db = new();
    private readonly TempDirectory _dir = new();
    private readonly TestPortal _a = TestPortal.Create("a.bitrix24.com");
    private readonly TestPortal _b = TestPortal.Create("b.bitrix24.com");

    public Task InitializeAsync() => _db.InitializeAsync();

    public async Task DisposeAsync()
    {
        await _db.DisposeAsync();
        _dir.Dispose();
    }

    private string SqlitePath => Path.Combine(_dir.Path, "ledger.db");

    [Fact]
    public Task On_SQLite_a_version_1_ledger_is_migrated_with_every_call_its_record_and_the_cursor() => MigratesAsync(postgres: false);

    [Fact]
    public Task On_PostgreSQL_a_version_1_ledger_is_migrated_with_every_call_its_record_and_the_cursor() => MigratesAsync(postgres: true);

    [Fact]
    public Task On_SQLite_a_version_1_ledger_larger_than_one_copy_chunk_is_migrated_whole() => MigratesManyAsync(postgres: false);

    [Fact]
    public Task On_PostgreSQL_a_version_1_ledger_larger_than_one_copy_chunk_is_migrated_whole() => MigratesManyAsync(postgres: true);

    [Fact]
    public Task On_SQLite_a_ledger_of_a_newer_schema_version_is_refused() => RefusesNewerAsync(postgres: false);

    [Fact]
    public Task On_PostgreSQL_a_ledger_of_a_newer_schema_version_is_refused() => RefusesNewerAsync(postgres: true);

    [Fact]
    public Task On_SQLite_a_version_1_ledger_without_its_version_row_is_migrated_too() => MigratesWithoutVersionRowAsync(postgres: false);

    [Fact]
    public Task On_PostgreSQL_a_version_1_ledger_without_its_version_row_is_migrated_too() => MigratesWithoutVersionRowAsync(postgres: true);

    private async Task MigratesWithoutVersionRowAsync(bool postgres)
    {
        // The calls table as builds before ledger_meta created it: no version row to say it is version 1.
        var row = new OldRow(_a.MemberId, new CallRecord { CallId = $"externalCall.{TestPortal.Hex(16)}.1773130779", MemberId = _a.MemberId }, 1_773_239_400_000);
        await using var outbox = await OpenOutboxAsync(postgres);
        await CreateVersion1Async(postgres, [row]);
        await using (var c = await ConnectAsync(postgres))
        {
            await ExecAsync(c, "DROP TABLE ledger_meta");
        }

        await using var calls = CallStore(postgres, outbox);
        await calls.InitializeAsync(default);

        (await calls.GetAsync(row.MemberId, row.CallId, default))!.Record.Should().Be(row.Record);
        await using (var c = await ConnectAsync(postgres))
        {
            (await ScalarAsync(c, "SELECT value FROM ledger_meta WHERE key = 'schema_version'")).Should().Be("2");
            await AssertVersion2TableAsync(c, postgres);
        }
    }

    private sealed record OldRow(string MemberId, CallRecord Record, long UpdatedAt)
    {
        public string CallId => Record.CallId;

        public string Json { get; } = CallJson.Write(Record);

        public long? RequestedAt => Record.RequestedAt?.ToUnixTimeMilliseconds();

        public long? EndedAt => Record.EndedAt?.ToUnixTimeMilliseconds();
    }

    private async Task MigratesAsync(bool postgres)
    {
        var late = $"externalCall.{TestPortal.Hex(16)}.1773130779";
        var early = $"externalCall.{TestPortal.Hex(16)}.1773130700";
        var shared = $"externalCall.{TestPortal.Hex(16)}.1773130790";
        var noTime = "asterisk-1773239326.18441-звонок";
        OldRow[] rows =
        [
            new(_a.MemberId, Record(_a, late, hungUp: true), 1_773_239_400_001),
            new(_a.MemberId, Record(_a, early, hungUp: false), 1_773_239_400_002),
            new(_a.MemberId, Record(_a, shared, hungUp: true), 1_773_239_400_003),
            new(_b.MemberId, Record(_b, shared, hungUp: false), 1_773_239_400_004),
            new(_b.MemberId, Record(_b, noTime, hungUp: false), 1_773_239_400_005),
        ];
        rows[0].EndedAt.Should().NotBeNull("one row has every column set");
        rows[1].EndedAt.Should().BeNull("and one has a NULL");

        await using var outbox = await OpenOutboxAsync(postgres);
        await CreateVersion1Async(postgres, rows);
        await using var calls = CallStore(postgres, outbox);

        await calls.InitializeAsync(default);

        await using (var c = await ConnectAsync(postgres))
        {
            (await ScalarAsync(c, "SELECT value FROM ledger_meta WHERE key = 'schema_version'")).Should().Be("2");
            var stored = await CallRowsAsync(c);
            stored.Should().BeEquivalentTo(rows.Select(r => (CallKey.Of(r.CallId), r.MemberId, r.CallId, r.Json, r.RequestedAt, r.EndedAt, r.UpdatedAt)),
                "every row is copied as it was, under its new key");
            await AssertVersion2TableAsync(c, postgres);
        }

        foreach (var row in rows)
        {
            var found = await calls.GetAsync(row.MemberId, row.CallId, default);
            found.Should().NotBeNull($"{row.CallId} of {row.MemberId} is in the migrated ledger");
            found!.Record.Should().Be(row.Record);
            found.UpdatedAt.Should().Be(DateTimeOffset.FromUnixTimeMilliseconds(row.UpdatedAt));
        }

        foreach (var row in rows.Where(r => r.CallId != shared))
        {
            (await calls.GetAsync(row.CallId, default))!.Record.Should().Be(row.Record, "a CALL_ID of one portal is found without naming it");
        }

        (await FluentActions.Awaiting(() => calls.GetAsync(shared, default)).Should().ThrowAsync<AmbiguousCallException>())
            .Which.CallId.Should().Be(shared);
        (await calls.GetAsync(_b.MemberId, late, default)).Should().BeNull("the call is portal A's");
        (await calls.GetCursorAsync(default)).Should().Be(Cursor);
        (await calls.ListAsync(10, null, default)).Select(s => s.Record).Should().Equal(rows.AsEnumerable().Reverse().Select(r => r.Record), "most recently changed first");

        // Started again: nothing to do.
        List<object?[]> before;
        await using (var c = await ConnectAsync(postgres))
        {
            before = await QueryAsync(c, "SELECT call_key, member_id, call_id, record, requested_at, ended_at, updated_at FROM calls ORDER BY call_key, member_id");
        }

        await calls.InitializeAsync(default);

        await using (var c = await ConnectAsync(postgres))
        {
            (await ScalarAsync(c, "SELECT value FROM ledger_meta WHERE key = 'schema_version'")).Should().Be("2");
            (await QueryAsync(c, "SELECT call_key, member_id, call_id, record, requested_at, ended_at, updated_at FROM calls ORDER BY call_key, member_id"))
                .Should().BeEquivalentTo(before, o => o.WithStrictOrdering());
            await AssertVersion2TableAsync(c, postgres);
        }

        (await calls.GetCursorAsync(default)).Should().Be(Cursor);

        // The migrated calls go on: a journal event folds into the old record, and a manual finish applies.
        var end = ParsedEvents.Read(Bitrix24Events.CallEnd(_a, early));
        var pass = await calls.FoldAsync(Cursor, [new JournalEvent(Cursor + 1, T0.AddMinutes(2), _a.MemberId, end)], Cursor + 1, T0.AddMinutes(2), default);
        pass.Should().Be(new LedgerPass(1, 1, 0, Conflict: false));
        var folded = (await calls.GetAsync(_a.MemberId, early, default))!.Record;
        folded.EventsSeen.Items.Should().Equal("ONEXTERNALCALLSTART", "ONVOXIMPLANTCALLEND");
        folded.ClickToCall.Should().BeTrue("the event was folded into the migrated record, not into a new one");
        folded.LastJournalId.Should().Be(Cursor + 1);
        (await calls.GetCursorAsync(default)).Should().Be(Cursor + 1);

        var finished = await calls.ApplyAsync(new ManualFinish(noTime, CallStatusCode.Success, TimeSpan.FromSeconds(30), T0.AddMinutes(3)), T0.AddMinutes(3), default);
        finished.Should().NotBeNull("the call of portal B is found by its CALL_ID alone");
        finished!.Value.Record.Outcome.Should().Be(new CallOutcome(CallStatusCode.Success, TimeSpan.FromSeconds(30)));
        finished.Value.Record.ClickToCall.Should().BeTrue();
        finished.Value.NewCommands.Should().ContainSingle(c => c is FinishCall);
        (await outbox.ListAsync(null, 100, default)).Should().ContainSingle(e => e.Kind == OutboxKinds.Finish && e.MemberId == _b.MemberId);

        await FluentActions.Awaiting(() => calls.ApplyAsync(new ManualFinish(shared, CallStatusCode.Success, TimeSpan.FromSeconds(5), T0), T0, default))
            .Should().ThrowAsync<AmbiguousCallException>();
        (await calls.ApplyAsync(new ManualFinish(shared, CallStatusCode.Success, TimeSpan.FromSeconds(5), T0.AddMinutes(4)), T0.AddMinutes(4), default, _b.MemberId))
            .Should().NotBeNull();
        (await calls.GetAsync(_b.MemberId, shared, default))!.Record.EndKnown.Should().BeTrue();
        (await calls.GetAsync(_a.MemberId, shared, default))!.Record.Should().Be(rows[2].Record, "portal A's call of the same CALL_ID is another call");

        await using (var c = await ConnectAsync(postgres))
        {
            (await ScalarAsync(c, "SELECT COUNT(*) FROM calls")).Should().Be(5L, "no call was written twice under another key");
        }
    }

    private async Task MigratesManyAsync(bool postgres)
    {
        // More than the 5,000 rows the migration copies at a time, so the second chunk starts in the middle of portal B's calls.
        const int Count = 5_050;
        var rows = Enumerable.Range(0, Count).Select(i =>
        {
            var portal = i % 2 == 0 ? _a : _b;
            var callId = i % 7 == 0 ? $"pbx-{TestPortal.Hex(8)}" : $"externalCall.{TestPortal.Hex(16)}.{1_773_130_000 + i}";
            return new OldRow(portal.MemberId, new CallRecord { CallId = callId, MemberId = portal.MemberId }, 1_773_239_400_000 + i);
        }).ToList();

        await using var outbox = await OpenOutboxAsync(postgres);
        await CreateVersion1Async(postgres, rows);
        await using var calls = CallStore(postgres, outbox);

        await calls.InitializeAsync(default);

        await using (var c = await ConnectAsync(postgres))
        {
            var stored = await CallRowsAsync(c);
            stored.Should().HaveCount(Count);
            stored.Should().OnlyContain(s => s.Key == CallKey.Of(s.CallId));
            // Sorted and compared in order: an unordered equivalence of 5,050 rows is quadratic.
            stored.Select(s => (s.MemberId, s.CallId, s.Json, s.UpdatedAt)).OrderBy(s => s.MemberId, StringComparer.Ordinal).ThenBy(s => s.CallId, StringComparer.Ordinal)
                .Should().Equal(rows.Select(r => (r.MemberId, r.CallId, r.Json, r.UpdatedAt)).OrderBy(r => r.MemberId, StringComparer.Ordinal).ThenBy(r => r.CallId, StringComparer.Ordinal));
        }

        foreach (var row in new[] { rows[0], rows[1], rows[Count / 2], rows[^2], rows[^1] })
        {
            (await calls.GetAsync(row.MemberId, row.CallId, default))!.Record.Should().Be(row.Record);
        }

        (await calls.GetCursorAsync(default)).Should().Be(Cursor);
    }

    private async Task RefusesNewerAsync(bool postgres)
    {
        await using var outbox = await OpenOutboxAsync(postgres);
        await using (var c = await ConnectAsync(postgres))
        {
            await ExecAsync(c, "CREATE TABLE ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
            await ExecAsync(c, "INSERT INTO ledger_meta (key, value) VALUES ('schema_version', '3')");
        }

        await using var calls = CallStore(postgres, outbox);

        (await FluentActions.Awaiting(() => calls.InitializeAsync(default)).Should().ThrowAsync<InvalidOperationException>())
            .Which.Message.Should().Contain("version 3");

        await using (var c = await ConnectAsync(postgres))
        {
            (await ScalarAsync(c, "SELECT value FROM ledger_meta WHERE key = 'schema_version'")).Should().Be("3", "the newer ledger is left as it is");
            (await TablesAsync(c, postgres)).Should().NotContain(["calls", "ledger_cursor"]);
        }
    }

    // ---- Set-up --------------------------------------------------------------------------------

    private static CallRecord Record(TestPortal portal, string callId, bool hungUp)
    {
        var ev = ParsedEvents.Read(Bitrix24Events.ExternalCallStart(portal, callId));
        var record = CallLedger.Apply(null, new Bitrix24Input(7, T0, ev)).Next;
        return hungUp
            ? CallLedger.Apply(record, new PbxHungUp(callId, CallStatusCode.Success, TimeSpan.FromSeconds(42), T0.AddSeconds(50))).Next
            : record;
    }

    private async Task<IOutboxStore> OpenOutboxAsync(bool postgres)
    {
        IOutboxStore outbox = postgres ? new PostgresOutboxStore(_db.ConnectionString) : new SqliteOutboxStore(SqlitePath);
        await outbox.InitializeAsync(default);
        return outbox;
    }

    private SqlCallStore CallStore(bool postgres, IOutboxStore outbox) =>
        postgres ? new PostgresCallStore(_db.ConnectionString, outbox) : new SqliteCallStore((SqliteOutboxStore)outbox);

    private async Task<DbConnection> ConnectAsync(bool postgres)
    {
        DbConnection connection = postgres
            ? new NpgsqlConnection(_db.ConnectionString)
            : new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = SqlitePath, Pooling = false }.ToString());
        await connection.OpenAsync();
        return connection;
    }

    /// <summary>The version-1 tables with these rows, the cursor at <see cref="Cursor"/>, as the previous release left them.</summary>
    private async Task CreateVersion1Async(bool postgres, IReadOnlyList<OldRow> rows)
    {
        await using var c = await ConnectAsync(postgres);
        await using var tx = await c.BeginTransactionAsync();
        foreach (var sql in Version1Schema)
        {
            await using var cmd = Command(c, tx, sql);
            await cmd.ExecuteNonQueryAsync();
        }

        await using (var insert = Command(c, tx, Version1Insert))
        {
            var call = Add(insert, "call_id");
            var member = Add(insert, "member_id");
            var record = Add(insert, "record");
            var requested = Add(insert, "requested_at");
            var ended = Add(insert, "ended_at");
            var updated = Add(insert, "updated_at");
            foreach (var row in rows)
            {
                call.Value = row.CallId;
                member.Value = row.MemberId;
                record.Value = row.Json;
                requested.Value = (object?)row.RequestedAt ?? DBNull.Value;
                ended.Value = (object?)row.EndedAt ?? DBNull.Value;
                updated.Value = row.UpdatedAt;
                await insert.ExecuteNonQueryAsync();
            }
        }

        await using (var cursor = Command(c, tx, "UPDATE ledger_cursor SET position = @position WHERE name = 'journal'"))
        {
            Add(cursor, "position", Cursor);
            (await cursor.ExecuteNonQueryAsync()).Should().Be(1);
        }

        await tx.CommitAsync();

        (await ScalarAsync(c, "SELECT value FROM ledger_meta WHERE key = 'schema_version'")).Should().Be("1");
        (await IndexesAsync(c, postgres)).Should().Contain("calls_call_id", "this is the version-1 layout");
    }

    // ---- What is in the database ---------------------------------------------------------------

    private static async Task<List<(string Key, string MemberId, string CallId, string Json, long? RequestedAt, long? EndedAt, long UpdatedAt)>> CallRowsAsync(DbConnection c) =>
        [.. (await QueryAsync(c, "SELECT call_key, member_id, call_id, record, requested_at, ended_at, updated_at FROM calls"))
            .Select(r => ((string)r[0]!, (string)r[1]!, (string)r[2]!, (string)r[3]!, (long?)r[4], (long?)r[5], (long)r[6]!))];

    /// <summary>Keyed by (call_key, member_id) under the name calls_pkey, no CALL_ID index, no table left over.</summary>
    private static async Task AssertVersion2TableAsync(DbConnection c, bool postgres)
    {
        (await TablesAsync(c, postgres)).Should().Contain(["calls", "ledger_cursor", "ledger_meta"]).And.NotContain("calls_v2");
        var indexes = await IndexesAsync(c, postgres);
        indexes.Should().Contain("calls_updated").And.NotContain("calls_call_id").And.NotContain(i => i.Contains("v2", StringComparison.Ordinal));
        if (postgres)
        {
            indexes.Should().BeEquivalentTo(["calls_pkey", "calls_updated", "calls_open"]);
            (await QueryAsync(c, "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'calls'::regclass AND contype = 'p'"))
                .Should().ContainSingle().Which.Should().Equal("calls_pkey", "PRIMARY KEY (call_key, member_id)");
        }
        else
        {
            (await QueryAsync(c, "SELECT name FROM pragma_table_info('calls') WHERE pk > 0 ORDER BY pk")).Select(r => r[0])
                .Should().Equal("call_key", "member_id");
            var pk = (await QueryAsync(c, "SELECT name FROM pragma_index_list('calls') WHERE origin = 'pk'")).Should().ContainSingle().Which[0];
            (await QueryAsync(c, $"SELECT name FROM pragma_index_info('{pk}') ORDER BY seqno")).Select(r => r[0]).Should().Equal("call_key", "member_id");
            (await QueryAsync(c, "SELECT name FROM pragma_index_list('calls') WHERE origin = 'c'")).Select(r => r[0]).Should().BeEquivalentTo(["calls_updated", "calls_open"]);
        }
    }

    private static async Task<List<string>> TablesAsync(DbConnection c, bool postgres) =>
        [.. (await QueryAsync(c, postgres
            ? "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            : "SELECT name FROM sqlite_master WHERE type = 'table'")).Select(r => (string)r[0]!)];

    private static async Task<List<string>> IndexesAsync(DbConnection c, bool postgres) =>
        [.. (await QueryAsync(c, postgres
            ? "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'calls'"
            : "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'calls'")).Select(r => (string)r[0]!)];

    private static async Task ExecAsync(DbConnection c, string sql)
    {
        await using var cmd = Command(c, null, sql);
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task<object?> ScalarAsync(DbConnection c, string sql)
    {
        await using var cmd = Command(c, null, sql);
        return await cmd.ExecuteScalarAsync() is { } v and not DBNull ? v : null;
    }

    private static async Task<List<object?[]>> QueryAsync(DbConnection c, string sql)
    {
        await using var cmd = Command(c, null, sql);
        await using var r = await cmd.ExecuteReaderAsync();
        var rows = new List<object?[]>();
        while (await r.ReadAsync())
        {
            var row = new object?[r.FieldCount];
            for (var i = 0; i < row.Length; i++)
            {
                row[i] = r.IsDBNull(i) ? null : r.GetValue(i);
            }

            rows.Add(row);
        }

        return rows;
    }
}
