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
