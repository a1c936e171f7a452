using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Switchboard.Bitrix24.Events;
using Switchboard.Calls;
using Switchboard.Outbox;
using Switchboard.Tests.Cli;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Calls;

/// <summary>
/// The ledger as the server builds it from the journal, read and changed through <c>switchboard calls</c>
/// and <c>switchboard outbox</c> on the server's own SQLite file while it runs.
/// </summary>
public sealed class CallsCliTests : IAsyncLifetime
{
    private readonly TestPortal _portal = TestPortal.Create("127.0.0.1");
    private readonly TestPortal _other = TestPortal.Create("127.0.0.1");
    private readonly TempDirectory _data = new();
    private SwitchboardServer _server = null!;

    public async Task InitializeAsync()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Switchboard:Install:AllowedDomains"] = "127.0.0.1",
            ["Switchboard:Install:AllowInsecureHttp"] = "true",
            ["Switchboard:Outbox:MaxAttempts"] = "1",
            ["Switchboard:Outbox:PollInterval"] = "00:00:00.050",
            ["Switchboard:Ledger:PollInterval"] = "00:00:00.050",
        };

        // The portals are installed (proven at the test OAuth server) by a server with the app's
        // credentials; then the server runs without REST settings: it journals and folds the ledger,
        // and its reports wait (and say why).
        await using (var installing = await SwitchboardServer.StartAsync(settings: settings, dataDirectory: _data.Path))
        {
            (await installing.PostFormAsync(Bitrix24Events.Install(_portal))).EnsureSuccessStatusCode();
            (await installing.PostFormAsync(Bitrix24Events.Install(_other))).EnsureSuccessStatusCode();
        }

        settings["Switchboard:Bitrix24:ClientId"] = null;
        settings["Switchboard:Bitrix24:ClientSecret"] = null;
        // Clicks wait for a PBX that does not answer; without any PBX they would be finished at once.
        foreach (var (key, value) in PortalLab.UnreachablePbx())
        {
            settings[key] = value;
        }

        _server = await SwitchboardServer.StartAsync(settings: settings, dataDirectory: _data.Path);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _data.Dispose();
    }

    private string Data => _data.Path;

    private async Task<string> ClickAsync()
    {
        var callId = Bitrix24Events.NewCallId();
        (await _server.PostFormAsync(Bitrix24Events.ExternalCallStart(_portal, callId))).EnsureSuccessStatusCode();
        var calls = _server.Services.GetRequiredService<SqlCallStore>();
        await PortalLab.WaitUntilAsync(async () => await calls.GetAsync(callId, default) is not null, "the ledger has the call");
        return callId;
    }

    [Fact]
    public async Task Calls_list_and_show_read_the_ledger_the_server_folded_from_the_journal()
    {
        var callId = await ClickAsync();

        var list = await CliRun.RunAsync("calls", "list", "--data", Data, "--json");
        list.ExitCode.Should().Be(0, list.ToString());
        var row = list.Json().EnumerateArray().Should().ContainSingle().Subject;
        row.GetProperty("callId").GetString().Should().Be(callId);
        row.GetProperty("clickToCall").GetBoolean().Should().BeTrue();
        row.GetProperty("memberId").GetString().Should().Be(_portal.MemberId);

        var table = await CliRun.RunAsync("calls", "list", "--data", Data);
        table.Output.Should().Contain(callId).And.Contain("open").And.Contain("1 call(s).");

        var show = await CliRun.RunAsync("calls", "show", callId, "--data", Data);
        show.ExitCode.Should().Be(0);
        using var json = JsonDocument.Parse(show.Output);
        json.RootElement.GetProperty("crm").GetProperty("type").GetString().Should().Be("CONTACT", "codes are plain strings");
        json.RootElement.GetProperty("eventsSeen").EnumerateArray().Select(e => e.GetString()).Should().Equal("ONEXTERNALCALLSTART");

        (await CliRun.RunAsync("calls", "show", "externalCall.nosuch", "--data", Data)).ExitCode.Should().Be(1);
    }

    [Fact]
    public async Task Calls_finish_ends_a_call_once_and_queues_one_finish_and_refuses_bad_input()
    {
        var callId = await ClickAsync();

        (await CliRun.RunAsync("calls", "finish", callId, "--status", "abc", "--data", Data)).ExitCode.Should().Be(2);
        (await CliRun.RunAsync("calls", "finish", callId, "--status", "200", "--duration", "-5", "--data", Data)).ExitCode.Should().Be(2);
        (await CliRun.RunAsync("calls", "finish", "externalCall.nosuch", "--status", "304", "--data", Data)).ExitCode.Should().Be(1);

        var first = await CliRun.RunAsync("calls", "finish", callId, "--status", "603-s", "--duration", "0", "--data", Data);
        first.ExitCode.Should().Be(0, first.ToString());
        first.Output.Should().Contain("603-S");
        var again = await CliRun.RunAsync("calls", "finish", callId, "--status", "200", "--duration", "30", "--data", Data);
        again.ExitCode.Should().Be(0);
        again.Output.Should().Contain("already finished");

        var record = (await _server.Services.GetRequiredService<SqlCallStore>().GetAsync(callId, default))!.Record;
        record.EndKnown.Should().BeTrue();
        record.Outcome!.Status.Should().Be(CallStatusCode.Success, "an answered outcome outranks a cancelled one, whatever the order (StatusPrecedence)");
        var outbox = _server.Services.GetRequiredService<IOutboxStore>();
        (await outbox.ListAsync(null, 100, default)).Count(e => e.Key.Contains("/finish:" + callId + "@", StringComparison.Ordinal)).Should().Be(1);
    }

    [Fact]
    public async Task Without_the_app_s_credentials_a_finish_waits_without_using_up_its_attempts_and_outbox_list_says_why()
    {
        var callId = await ClickAsync();
        (await CliRun.RunAsync("calls", "finish", callId, "--status", "200", "--duration", "3", "--data", Data)).ExitCode.Should().Be(0);
        var outbox = _server.Services.GetRequiredService<IOutboxStore>();
        await PortalLab.WaitUntilAsync(async () => (await outbox.ListAsync(null, 10, default)).Any(e => e.Key.Contains("/finish:" + callId + "@", StringComparison.Ordinal) && e.LastError is not null),
            "the worker looked at the finish");

        var pending = await CliRun.RunAsync("outbox", "list", "--status", "pending", "--data", Data, "--json");
        pending.ExitCode.Should().Be(0, pending.ToString());
        var entry = pending.Json().EnumerateArray().Single(e => e.GetProperty("key").GetString()!.Contains("/finish:" + callId + "@", StringComparison.Ordinal));
        entry.GetProperty("attempts").GetInt32().Should().Be(0, "nothing was tried (MaxAttempts is 1 here: one counted attempt would have killed it)");
        entry.GetProperty("lastError").GetString().Should().Contain("Switchboard:Bitrix24:ClientId", "the reason names the setting to fix")
            .And.NotContain(_portal.ApplicationToken);
        (await CliRun.RunAsync("outbox", "list", "--dead", "--data", Data)).Output.Should().Contain("0 command(s).");

        (await CliRun.RunAsync("outbox", "list", "--status", "sideways", "--data", Data)).ExitCode.Should().Be(2);
        (await CliRun.RunAsync("outbox", "retry", "--data", Data)).ExitCode.Should().Be(2, "an id or --all-dead is needed");
        (await CliRun.RunAsync("outbox", "retry", "999999", "--data", Data)).ExitCode.Should().Be(1);
    }

    [Fact]
    public async Task The_same_CALL_ID_from_two_portals_is_two_calls_and_the_CLI_asks_which()
    {
        var other = _other;
        var callId = Bitrix24Events.NewCallId();
        (await _server.PostFormAsync(Bitrix24Events.ExternalCallStart(_portal, callId))).EnsureSuccessStatusCode();
        (await _server.PostFormAsync(Bitrix24Events.ExternalCallStart(other, callId))).EnsureSuccessStatusCode();
        var calls = _server.Services.GetRequiredService<SqlCallStore>();
        await PortalLab.WaitUntilAsync(async () => await calls.GetAsync(other.MemberId, callId, default) is not null && await calls.GetAsync(_portal.MemberId, callId, default) is not null,
            "both portals' ledgers have the call");

        (await calls.ListAsync(10, null, default)).Should().HaveCount(2);
        var ambiguous = await CliRun.RunAsync("calls", "show", callId, "--data", Data);
        ambiguous.ExitCode.Should().Be(2);
        ambiguous.Error.Should().Contain("--portal");
        (await CliRun.RunAsync("calls", "show", callId, "--portal", other.MemberId, "--data", Data)).ExitCode.Should().Be(0);
        (await CliRun.RunAsync("calls", "finish", callId, "--status", "200", "--data", Data)).ExitCode.Should().Be(2);

        (await CliRun.RunAsync("calls", "finish", callId, "--portal", other.MemberId, "--status", "486", "--data", Data)).ExitCode.Should().Be(0);

        (await calls.GetAsync(other.MemberId, callId, default))!.Record.EndKnown.Should().BeTrue();
        (await calls.GetAsync(_portal.MemberId, callId, default))!.Record.EndKnown.Should().BeFalse("a finish for one portal's call does not touch the other's");
        var finishes = (await _server.Services.GetRequiredService<IOutboxStore>().ListAsync(null, 100, default)).Where(e => e.Kind == OutboxKinds.Finish).ToList();
        finishes.Should().ContainSingle().Which.MemberId.Should().Be(other.MemberId);
    }
}
