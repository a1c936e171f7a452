using System.Net;
using Microsoft.Data.Sqlite;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Receiving;

public sealed class SqliteReceivingTests : ReceivingContract
{
    protected override Task<SwitchboardServer> StartServerAsync(IReadOnlyDictionary<string, string?>? settings = null)
    {
        var all = new Dictionary<string, string?> { ["Switchboard:Store:BusyTimeoutSeconds"] = "1" };
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>())
        {
            all[k] = v;
        }

        return SwitchboardServer.StartAsync(settings: all);
    }

    [Fact]
    public async Task Metrics_show_the_journals_write_ahead_log()
    {
        (await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal, Bitrix24Events.NewCallId()))).StatusCode.Should().Be(HttpStatusCode.OK);
        var wal = new FileInfo(Path.Combine(Server.DataDirectory!, "switchboard.db-wal")).Length;

        var metrics = await Server.Client.GetStringAsync("/metrics");

        long Value(string series) => long.Parse(metrics.Split('\n').Single(l => l.StartsWith(series + " ", StringComparison.Ordinal))[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        Value("switchboard_journal_wal_file_bytes").Should().BeGreaterThanOrEqualTo(wal, "the file as it is when scraped").And.BePositive();
        Value("switchboard_journal_wal_frames").Should().BeGreaterThanOrEqualTo(0);
        metrics.Should().Contain("# TYPE switchboard_journal_wal_frames gauge");
        Value("switchboard_journal_checkpoint_failures_total").Should().Be(0);
    }

    [Fact]
    public async Task When_the_journal_cannot_commit_the_event_gets_503_and_readiness_goes_red_then_both_recover()
    {
        var path = Path.Combine(Server.DataDirectory!, "switchboard.db");
        var callId = Bitrix24Events.NewCallId();
        await using (var blocker = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await blocker.OpenAsync();
            await using var begin = blocker.CreateCommand();
            begin.CommandText = "BEGIN EXCLUSIVE";
            await begin.ExecuteNonQueryAsync();

            var refused = await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal, callId));
            var ready = await Server.Client.GetAsync("/readyz");

            await ShouldBeProblemAsync(refused, HttpStatusCode.ServiceUnavailable);
            ready.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        }

        (await Server.Client.GetAsync("/readyz")).StatusCode.Should().Be(HttpStatusCode.OK);
        (await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal, callId))).StatusCode.Should().Be(HttpStatusCode.OK);
        (await Server.Store.ListEventsAsync(new(CallId: callId), default)).Should().ContainSingle("the refused delivery was not half-kept");
    }

    [Fact]
    public async Task A_nesting_limit_deeper_than_the_JSON_reader_takes_is_refused_at_start()
    {
        var start = () => SwitchboardServer.StartAsync(settings: new Dictionary<string, string?> { ["Switchboard:Receiving:MaxDepth"] = "65" });

        (await start.Should().ThrowAsync<Microsoft.Extensions.Options.OptionsValidationException>()).WithMessage("*at most 64*");
    }

    [Fact]
    public async Task A_journal_file_moved_away_under_the_server_gets_503_not_a_200_into_a_ghost_file_until_it_is_back()
    {
        var path = Path.Combine(Server.DataDirectory!, "switchboard.db");
        var callId = Bitrix24Events.NewCallId();
        (await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal, Bitrix24Events.NewCallId()))).StatusCode.Should().Be(HttpStatusCode.OK);

        File.Move(path, path + ".away");
        var refused = await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal, callId));
        var ready = await Server.Client.GetAsync("/readyz");
        File.Exists(path).Should().BeFalse("no empty journal is created in the file's place");
        File.Move(path + ".away", path);

        await ShouldBeProblemAsync(refused, HttpStatusCode.ServiceUnavailable);
        ready.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        (await Server.Client.GetAsync("/readyz")).StatusCode.Should().Be(HttpStatusCode.OK);
        (await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal, callId))).StatusCode.Should().Be(HttpStatusCode.OK);
        (await Server.Store.ListEventsAsync(new(CallId: callId), default)).Should().ContainSingle();
    }
}
