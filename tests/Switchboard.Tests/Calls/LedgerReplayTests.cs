using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Switchboard.Calls;
using Switchboard.Hosting;
using Switchboard.Outbox;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Calls;

/// <summary>
/// The ledger as the server keeps it, on SQLite and PostgreSQL: folding the journal again from the start
/// (what happens to every row past the cursor after a crash) changes no record and queues nothing twice.
/// </summary>
public sealed class LedgerReplayTests : IAsyncLifetime
{
    private readonly PostgresDatabase _db = new();

    public Task InitializeAsync() => _db.InitializeAsync();

    public Task DisposeAsync() => _db.DisposeAsync();

    [Fact]
    public Task On_SQLite_a_replay_of_the_whole_journal_changes_nothing() => ReplayAsync(null);

    [Fact]
    public Task On_PostgreSQL_a_replay_of_the_whole_journal_changes_nothing() => ReplayAsync(_db.ConnectionString);

    [Fact]
    public Task On_SQLite_a_call_id_longer_than_any_real_one_is_journaled_and_does_not_stop_the_ledger() => OverlongCallIdAsync(null);

    [Fact]
    public Task On_PostgreSQL_a_call_id_longer_than_any_real_one_is_journaled_and_does_not_stop_the_ledger() => OverlongCallIdAsync(_db.ConnectionString);

    // 3,000 random characters: over PostgreSQL's B-tree entry limit (2,704 bytes) in the ledger's keys,
    // where such a row failed every pass and stopped the ledger for all portals.
    private static async Task OverlongCallIdAsync(string? postgres)
    {
        var (server, portal) = await StartWithPortalAsync(postgres);
        await using var _ = server;
        var random = new Random(7);
        var huge = new string(Enumerable.Range(0, 3000).Select(_ => (char)random.Next('!', '~' + 1)).ToArray());
        var normal = Bitrix24Events.NewCallId();

        (await server.PostFormAsync(Bitrix24Events.ExternalCallStart(portal, huge))).StatusCode.Should().Be(System.Net.HttpStatusCode.OK, "the event is kept");
        (await server.PostFormAsync(Bitrix24Events.ExternalCallStart(portal, normal))).EnsureSuccessStatusCode();

        var calls = server.Services.GetRequiredService<SqlCallStore>();
        var journalEnd = (await server.Store.ListEventsAsync(new Switchboard.Journal.JournalQuery(1), default))[0].Id;
        await PortalLab.WaitUntilAsync(async () => await calls.GetCursorAsync(default) == journalEnd, "the ledger has folded past the long CALL_ID");
        (await calls.GetAsync(portal.MemberId, normal, default)).Should().NotBeNull();
        server.Logs.Lines.Should().NotContain(l => l.Contains("Ledger pass failed", StringComparison.Ordinal));
        server.Logs.Lines.Should().Contain(l => l.Contains("data[CALL_ID]", StringComparison.Ordinal) && l.Contains("at most 256", StringComparison.Ordinal));
    }

    // A server whose ledger polls every 50 ms and whose outbox is off, with one portal installed.
    private static async Task<(SwitchboardServer Server, TestPortal Portal)> StartWithPortalAsync(string? postgres)
    {
        var server = await SwitchboardServer.StartAsync(postgres, new Dictionary<string, string?>
        {
            ["Switchboard:Install:AllowedDomains"] = "127.0.0.1",
            ["Switchboard:Outbox:Enabled"] = "false",
            ["Switchboard:Ledger:PollInterval"] = "00:00:00.050",
        });
        var portal = TestPortal.Create("127.0.0.1");
        (await server.PostFormAsync(Bitrix24Events.Install(portal))).EnsureSuccessStatusCode();
        return (server, portal);
    }

    private static async Task ReplayAsync(string? postgres)
    {
        var (server, portal) = await StartWithPortalAsync(postgres);
        await using var _ = server;
        var callIds = Enumerable.Range(0, 5).Select(_ => Bitrix24Events.NewCallId()).ToList();
        foreach (var id in callIds)
        {
            (await server.PostFormAsync(Bitrix24Events.ExternalCallStart(portal, id))).EnsureSuccessStatusCode();
        }

        var calls = server.Services.GetRequiredService<SqlCallStore>();
        var ledger = server.Services.GetRequiredService<LedgerWorker>();
        var journalEnd = (await server.Store.ListEventsAsync(new Switchboard.Journal.JournalQuery(1), default))[0].Id;
        await PortalLab.WaitUntilAsync(async () => await calls.GetCursorAsync(default) == journalEnd, "the ledger has caught up");
        var records = await RecordsAsync(calls, callIds);
        var outbox = server.Services.GetRequiredService<IOutboxStore>();
        var queued = (await outbox.ListAsync(null, 100, default)).Select(e => e.Key).Order().ToList();
        queued.Should().HaveCount(6, "one portal.setup and one originate per click");

        // As after a crash before any cursor move: every row is past the cursor again.
        await ResetCursorAsync(server, postgres);
        await ledger.CatchUpAsync(default); // the running worker may get there first: either way every row is folded again
        await PortalLab.WaitUntilAsync(async () => await calls.GetCursorAsync(default) == journalEnd, "the ledger has folded the journal again");
        server.Logs.Lines.Should().NotContain(l => l.Contains("Ledger pass failed", StringComparison.Ordinal));
        (await RecordsAsync(calls, callIds)).Should().Equal(records);
        (await outbox.ListAsync(null, 100, default)).Select(e => e.Key).Order().Should().Equal(queued);
    }

    private static async Task<List<CallRecord>> RecordsAsync(SqlCallStore calls, List<string> ids)
    {
        var list = new List<CallRecord>();
        foreach (var id in ids)
        {
            list.Add((await calls.GetAsync(id, default))!.Record);
        }

        return list;
    }

    private static async Task ResetCursorAsync(SwitchboardServer server, string? postgres)
    {
        await using DbConnection connection = postgres is null
            ? new SqliteConnection($"Data Source={Path.Combine(server.DataDirectory!, "ledger.db")}")
            : new NpgsqlConnection(postgres);
        await connection.OpenAsync();
        await using var cmd = connection.CreateCommand();
        cmd.CommandText = "UPDATE ledger_cursor SET position = 0";
        (await cmd.ExecuteNonQueryAsync()).Should().Be(1);
    }

    [Fact]
    public async Task A_call_record_that_cannot_be_read_stalls_the_ledger_not_the_server()
    {
        await using var server = await SwitchboardServer.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Switchboard:Install:AllowedDomains"] = "127.0.0.1",
            ["Switchboard:Outbox:Enabled"] = "false",
            ["Switchboard:Ledger:PollInterval"] = "00:00:00.050",
        });
        var portal = TestPortal.Create("127.0.0.1");
        (await server.PostFormAsync(Bitrix24Events.Install(portal))).EnsureSuccessStatusCode();
        var callId = Bitrix24Events.NewCallId();
        (await server.PostFormAsync(Bitrix24Events.ExternalCallStart(portal, callId))).EnsureSuccessStatusCode();
        var calls = server.Services.GetRequiredService<SqlCallStore>();
        await PortalLab.WaitUntilAsync(async () => await calls.GetAsync(callId, default) is not null, "the ledger has the call");

        // A record written by something this version cannot read (a newer version on the same database, a bug).
        await using (var connection = new SqliteConnection($"Data Source={Path.Combine(server.DataDirectory!, "ledger.db")}"))
        {
            await connection.OpenAsync();
            await using var cmd = connection.CreateCommand();
            cmd.CommandText = "UPDATE calls SET record = '{\"callId\": 42' WHERE call_id = $id";
            cmd.Parameters.AddWithValue("$id", callId);
            (await cmd.ExecuteNonQueryAsync()).Should().Be(1);
        }

        (await server.PostFormAsync(Bitrix24Events.ExternalCallStart(portal, callId))).EnsureSuccessStatusCode();
        await PortalLab.WaitUntilAsync(() => server.Logs.Lines.Any(l => l.Contains("Ledger pass failed", StringComparison.Ordinal) && l.Contains("JsonException", StringComparison.Ordinal)),
            "the ledger reports the unreadable record");

        // The server goes on: events are acknowledged and stored, health is green.
        var other = Bitrix24Events.NewCallId();
        (await server.PostFormAsync(Bitrix24Events.ExternalCallStart(portal, other))).StatusCode.Should().Be(System.Net.HttpStatusCode.OK);
        (await server.Client.GetAsync("/healthz")).StatusCode.Should().Be(System.Net.HttpStatusCode.OK);
        (await server.Store.ListEventsAsync(new Switchboard.Journal.JournalQuery(10, CallId: other), default)).Should().ContainSingle();
    }
}
