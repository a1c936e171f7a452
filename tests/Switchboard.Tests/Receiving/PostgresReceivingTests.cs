using System.Net;
using Switchboard.Journal;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Receiving;

public sealed class PostgresReceivingTests : ReceivingContract
{
    private readonly List<PostgresDatabase> _databases = [];
    private PostgresDatabase? _first;

    protected override async Task<SwitchboardServer> StartServerAsync(IReadOnlyDictionary<string, string?>? settings = null)
    {
        var db = new PostgresDatabase();
        await db.InitializeAsync();
        _databases.Add(db);
        _first ??= db;
        return await SwitchboardServer.StartAsync(postgres: db.ConnectionString, settings: settings);
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        foreach (var db in _databases)
        {
            await db.DisposeAsync();
        }
    }

    [Fact]
    public async Task Two_instances_on_one_database_share_portals_and_an_uninstall_on_one_binds_the_other_at_once()
    {
        await using var second = await SwitchboardServer.StartAsync(postgres: _first!.ConnectionString);
        // The second instance verifies (and caches) the portal the first one installed.
        (await second.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal))).StatusCode.Should().Be(HttpStatusCode.OK);

        (await Server.PostFormAsync(Bitrix24Events.Uninstall(Portal))).StatusCode.Should().Be(HttpStatusCode.OK);
        var callId = Bitrix24Events.NewCallId();
        var late = await second.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal, callId));

        await ShouldBeProblemAsync(late, HttpStatusCode.Unauthorized);
        (await Server.Store.ListEventsAsync(new JournalQuery(CallId: callId), default)).Should().BeEmpty();
    }

    [Fact]
    public async Task When_PostgreSQL_goes_away_events_get_503_and_readiness_goes_red_then_both_recover_by_themselves()
    {
        var direct = new Npgsql.NpgsqlConnectionStringBuilder(_first!.ConnectionString);
        using var forwarder = new TcpForwarder(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, direct.Port));
        var viaForwarder = new Npgsql.NpgsqlConnectionStringBuilder(_first.ConnectionString)
        {
            Host = "127.0.0.1", Port = forwarder.Port, Timeout = 2, CommandTimeout = 5,
        }.ConnectionString;
        await using var server = await SwitchboardServer.StartAsync(postgres: viaForwarder);
        var callId = Bitrix24Events.NewCallId();

        forwarder.Stop();
        var refused = await server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal, callId));
        var ready = await server.Client.GetAsync("/readyz");

        await ShouldBeProblemAsync(refused, HttpStatusCode.ServiceUnavailable);
        ready.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);

        forwarder.Start();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await server.Client.GetAsync("/readyz")).StatusCode != HttpStatusCode.OK)
        {
            DateTime.UtcNow.Should().BeBefore(deadline, "readiness recovers once PostgreSQL is back");
        }

        (await server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal, callId))).StatusCode.Should().Be(HttpStatusCode.OK);
        (await Server.Store.ListEventsAsync(new JournalQuery(CallId: callId), default)).Should().ContainSingle();
        server.Logs.Lines.Should().NotContain(l => l.Contains(direct.Password ?? "\u0000", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_server_started_before_PostgreSQL_is_reachable_answers_503_then_works_once_it_is()
    {
        var db = new PostgresDatabase();
        await db.InitializeAsync();
        _databases.Add(db);
        var direct = new Npgsql.NpgsqlConnectionStringBuilder(db.ConnectionString);
        using var forwarder = new TcpForwarder(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, direct.Port));
        forwarder.Stop();
        var viaForwarder = new Npgsql.NpgsqlConnectionStringBuilder(db.ConnectionString) { Host = "127.0.0.1", Port = forwarder.Port, Timeout = 2 }.ConnectionString;

        await using var server = await SwitchboardServer.StartAsync(postgres: viaForwarder);
        // A portal of its own: the fixture's portal was installed (its refresh token exchanged) elsewhere.
        var portal = TestPortal.Create();

        (await server.Client.GetAsync("/readyz")).StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        await ShouldBeProblemAsync(await server.PostFormAsync(Bitrix24Events.Install(portal)), HttpStatusCode.ServiceUnavailable);

        forwarder.Start();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await server.Client.GetAsync("/readyz")).StatusCode != HttpStatusCode.OK)
        {
            DateTime.UtcNow.Should().BeBefore(deadline, "the schema is created once PostgreSQL is reachable");
        }

        (await server.PostFormAsync(Bitrix24Events.Install(portal))).StatusCode.Should().Be(HttpStatusCode.OK);
        (await server.PostFormAsync(Bitrix24Events.ExternalCallStart(portal))).StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Fifty_identical_deliveries_split_across_two_instances_are_stored_once()
    {
        await using var second = await SwitchboardServer.StartAsync(postgres: _first!.ConnectionString);
        var body = Bitrix24Events.ExternalCallStart(Portal);
        var before = await CountAsync();

        var responses = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => (i % 2 == 0 ? Server : second).PostFormAsync(body)));

        responses.Should().OnlyContain(r => r.StatusCode == HttpStatusCode.OK);
        (await CountAsync()).Should().Be(before + 1);
    }
}
