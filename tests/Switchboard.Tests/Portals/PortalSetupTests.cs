using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Switchboard.Emulator;
using Switchboard.Journal;
using Switchboard.Outbox;
using Switchboard.Portals.Setup;
using Switchboard.Tests.Cli;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Portals;

/// <summary>
/// The install flow against the portal emulator over loopback: the emulator's ONAPPINSTALL is journaled
/// by the real server, then the portal.setup command (as the outbox worker would hand it over) verifies,
/// binds, adds the line and loads the users, and <c>portals show</c> reports each step.
/// </summary>
public sealed class PortalSetupTests : IAsyncLifetime
{
    private const string LineNumber = "74951234567";
    private readonly PortalEmulator _emulator = new(new EmulatorOptions { Url = "http://127.0.0.1:0" });
    private readonly List<SwitchboardServer> _servers = [];

    private static string MemberId => new EmulatorOptions().MemberId;

    public async Task InitializeAsync()
    {
        await _emulator.StartAsync();
        // More than one page of user.get (pages of 50, REFERENCE.md §6.9): 3 seeded + 60 added.
        for (var id = 10; id < 70; id++)
        {
            _emulator.State.UpsertUser(new EmulatedUser
            {
                Id = id,
                Name = "User",
                LastName = id.ToString(CultureInfo.InvariantCulture),
                Email = $"u{id}@example.test",
                Active = id != 11,
                PhoneInner = id % 10 == 0 ? null : (200 + id).ToString(CultureInfo.InvariantCulture),
            });
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }

        await _emulator.DisposeAsync();
    }

    /// <summary>A server on a port chosen first, so that Switchboard:PublicUrl can name it.</summary>
    private async Task<SwitchboardServer> StartServerAsync(bool publicUrl = true, bool restSettings = true)
    {
        var port = ServerProcess.FreePort();
        var settings = new Dictionary<string, string?>
        {
            ["urls"] = $"http://127.0.0.1:{port}",
            ["Switchboard:Install:AllowedDomains"] = "127.0.0.1",
            ["Switchboard:Install:AllowInsecureHttp"] = "true",
            // These tests hand the portal.setup command to the handler themselves; no worker races them.
            ["Switchboard:Outbox:Enabled"] = "false",
            ["Switchboard:Bitrix24:ClientId"] = restSettings ? _emulator.Options.ClientId : null,
            ["Switchboard:Bitrix24:ClientSecret"] = _emulator.Options.ClientSecret,
            ["Switchboard:Bitrix24:OAuthServer"] = _emulator.BaseAddress.ToString(),
            ["Switchboard:Bitrix24:AllowInsecureHttp"] = "true",
            ["Switchboard:Bitrix24:AllowedNetworks:0"] = "127.0.0.0/8",
            ["Switchboard:Bitrix24:MaxAttempts"] = "2",
            ["Switchboard:Bitrix24:BaseDelay"] = "00:00:00.050",
            ["Switchboard:Setup:Lines:0:Number"] = LineNumber,
            ["Switchboard:Setup:Lines:0:Name"] = "Office",
            ["Switchboard:Setup:Lines:0:CrmAutoCreate"] = "false",
        };
        if (publicUrl)
        {
            settings["Switchboard:PublicUrl"] = $"http://127.0.0.1:{port}/";
        }

        var server = await SwitchboardServer.StartAsync(settings: settings);
        _servers.Add(server);
        return server;
    }

    private static Uri Handler(SwitchboardServer server) => new(server.BaseAddress, "/bitrix24/events");

    private async Task<long> InstallAsync(SwitchboardServer server)
    {
        var install = await _emulator.SendInstallAsync(Handler(server));
        install.Deliveries.Single().Status.Should().Be(200, string.Join("\n", server.Logs.Lines));
        var journaled = await server.Store.ListEventsAsync(new JournalQuery(EventName: "ONAPPINSTALL", MemberId: MemberId), default);
        return journaled[0].Id;
    }

    /// <summary>Runs the command the way the outbox worker will: resolved from the server's DI by its kind.</summary>
    private static async Task<CommandOutcome> RunSetupAsync(SwitchboardServer server, string memberId, long journalId, string eventName = "ONAPPINSTALL", long outboxId = 1)
    {
        var handler = server.Services.GetServices<IOutboxHandler>().Single(h => h.Kinds.Contains(OutboxKinds.PortalSetup));
        var now = DateTimeOffset.UtcNow;
        var entry = new OutboxEntry(outboxId, OutboxKinds.PortalSetup, $"portal.setup:{journalId}", memberId,
            JsonSerializer.Serialize(new { journalId, @event = eventName }), OutboxStatus.Claimed, 0, now, now, "test", now.AddMinutes(1), null, null);
        var outcomes = await handler.ExecuteAsync(memberId, [entry], CancellationToken.None);
        return outcomes.Should().ContainKey(outboxId).WhoseValue;
    }

    private static async Task<JsonElement> ShowAsync(SwitchboardServer server, string portal) =>
        (await CliRun.RunAsync("portals", "show", portal, "--json", "--data", server.DataDirectory!)).Json();

    private static Dictionary<string, (string Status, string Detail)> Steps(JsonElement shown) =>
        shown.GetProperty("setup").EnumerateArray().ToDictionary(
            s => s.GetProperty("step").GetString()!,
            s => (s.GetProperty("status").GetString()!, s.GetProperty("detail").GetString() ?? ""));

    [Fact]
    public async Task An_install_binds_the_events_adds_the_line_loads_every_page_of_users_and_portals_show_says_so()
    {
        var server = await StartServerAsync();
        var journalId = await InstallAsync(server);

        var outcome = await RunSetupAsync(server, MemberId, journalId);

        outcome.Should().BeOfType<CommandOutcome.Done>(string.Join("\n", server.Logs.Lines));
        var handlers = _emulator.State.Handlers;
        handlers.Select(h => h.Event).Should().BeEquivalentTo(
            "ONEXTERNALCALLSTART", "ONEXTERNALCALLBACKSTART", "ONVOXIMPLANTCALLINIT", "ONVOXIMPLANTCALLSTART", "ONVOXIMPLANTCALLEND",
            "ONAPPUPDATE", "ONAPPUNINSTALL");
        handlers.Should().OnlyContain(h => h.Handler == Handler(server).ToString() && !h.Offline);
        var line = _emulator.State.Lines.Should().ContainSingle().Subject;
        (line.Number, line.Name, line.CrmAutoCreate).Should().Be((LineNumber, "Office", false));

        var portalUsers = _emulator.State.Users;
        portalUsers.Count.Should().BeGreaterThan(50, "the users must span more than one page of user.get");
        var stored = await server.Store.GetPortalUsersAsync(MemberId, default);
        stored.Select(u => (u.UserId, u.Extension, u.Active)).Should().BeEquivalentTo(portalUsers.Select(u => (u.Id, u.PhoneInner, u.Active)));
        stored.Single(u => u.UserId == 2).Name.Should().Be("Boris Operator");

        var shown = await ShowAsync(server, MemberId);
        Steps(shown).Should().HaveCount(4).And.OnlyContain(s => s.Value.Status == "ok");
        Steps(shown)["bind"].Detail.Should().Contain(Handler(server).ToString());
        shown.GetProperty("userCount").GetInt32().Should().Be(portalUsers.Count);
        shown.GetProperty("usersWithExtension").GetInt32().Should().Be(portalUsers.Count(u => u.PhoneInner is not null));
        shown.GetProperty("needsReauthorisation").ValueKind.Should().Be(JsonValueKind.Null);
        shown.GetProperty("installRefused").ValueKind.Should().Be(JsonValueKind.Null);

        var byDomain = await CliRun.RunAsync("portals", "show", _emulator.BaseAddress.Authority, "--data", server.DataDirectory!);
        byDomain.ExitCode.Should().Be(0, byDomain.ToString());
        byDomain.Output.Should().Contain("verify").And.Contain("users").And.Contain("Boris Operator").And.Contain($"{portalUsers.Count} user(s)");
        (await CliRun.RunAsync("portals", "show", "nosuchportal", "--data", server.DataDirectory!)).ExitCode.Should().Be(1);
    }

    [Fact]
    public async Task Running_again_is_safe_already_bound_handlers_and_an_existing_line_are_success_and_nothing_is_duplicated()
    {
        var server = await StartServerAsync();
        var journalId = await InstallAsync(server);
        (await RunSetupAsync(server, MemberId, journalId)).Should().BeOfType<CommandOutcome.Done>();
        var handlers = _emulator.State.Handlers;

        var again = await RunSetupAsync(server, MemberId, journalId, outboxId: 2);

        again.Should().BeOfType<CommandOutcome.Done>(string.Join("\n", server.Logs.Lines));
        _emulator.State.Handlers.Should().BeEquivalentTo(handlers);
        _emulator.State.Lines.Should().ContainSingle();
        (await server.Store.GetPortalUsersAsync(MemberId, default)).Should().HaveCount(_emulator.State.Users.Count);
        var steps = Steps(await ShowAsync(server, MemberId));
        steps["bind"].Detail.Should().Contain("7 already bound");
        steps["lines"].Detail.Should().Contain($"already there: {LineNumber}");
    }

    [Fact]
    public async Task An_update_drops_the_handlers_at_the_portal_and_its_setup_binds_them_again()
    {
        var server = await StartServerAsync();
        var journalId = await InstallAsync(server);
        (await RunSetupAsync(server, MemberId, journalId)).Should().BeOfType<CommandOutcome.Done>();

        // ONAPPUPDATE reaches Switchboard only because the setup bound it; then the portal drops every handler.
        var update = await _emulator.SendAppUpdateAsync("2");
        update.Deliveries.Should().ContainSingle().Which.Status.Should().Be(200);
        _emulator.State.Handlers.Should().BeEmpty();
        var updateId = (await server.Store.ListEventsAsync(new JournalQuery(EventName: "ONAPPUPDATE"), default)).Single().Id;

        var outcome = await RunSetupAsync(server, MemberId, updateId, "ONAPPUPDATE", outboxId: 2);

        outcome.Should().BeOfType<CommandOutcome.Done>(string.Join("\n", server.Logs.Lines));
        _emulator.State.Handlers.Should().HaveCount(7).And.OnlyContain(h => h.Handler == Handler(server).ToString());
        Steps(await ShowAsync(server, MemberId))["verify"].Detail.Should().Contain("version 2");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)] // an install without tokens cannot be proven, so it is refused too
    public async Task A_forged_install_whose_refresh_token_the_OAuth_server_refuses_is_refused_and_nothing_is_kept(bool withTokens)
    {
        var server = await StartServerAsync();
        // Passes the domain policy (the emulator's host is allowed), but the tokens are made up.
        var forged = new TestPortal(TestPortal.Hex(16), _emulator.BaseAddress.Authority, TestPortal.Hex(16), "at" + TestPortal.Hex(12), "rt" + TestPortal.Hex(12));
        var auth = Bitrix24Events.Auth(forged, withTokens);
        auth["client_endpoint"] = _emulator.ClientEndpoint.ToString();
        var install = Bitrix24Events.Body("ONAPPINSTALL", new() { ["VERSION"] = "1", ["ACTIVE"] = "Y", ["INSTALLED"] = "Y", ["LANGUAGE_ID"] = "en" }, auth);

        var response = await server.PostFormAsync(install);

        response.StatusCode.Should().Be(HttpStatusCode.Forbidden);
        (await response.Content.ReadAsStringAsync()).Should().NotContain(forged.RefreshToken).And.NotContain(forged.AccessToken);
        (await server.Store.FindPortalAsync(forged.MemberId, default)).Should().BeNull("an install is kept only once the OAuth server proves it");
        (await server.Store.GetPortalTokensAsync(forged.MemberId, default)).Should().BeNull();
        (await server.Store.CountEventsAsync(default)).Should().Be(0);
        var callEvent = Bitrix24Events.Body("ONVOXIMPLANTCALLSTART", new() { ["CALL_ID"] = Bitrix24Events.NewCallId(), ["USER_ID"] = "1" }, Bitrix24Events.Auth(forged));
        (await server.PostFormAsync(callEvent)).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        _emulator.State.Handlers.Should().BeEmpty();
        _emulator.State.Lines.Should().BeEmpty();
    }

    [Fact]
    public async Task Without_a_public_url_the_bind_step_fails_naming_the_setting_and_the_command_is_retried()
    {
        var server = await StartServerAsync(publicUrl: false);
        var journalId = await InstallAsync(server);

        var outcome = await RunSetupAsync(server, MemberId, journalId);

        outcome.Should().BeOfType<CommandOutcome.Retry>().Which.Error.Should().Contain("Switchboard:PublicUrl");
        _emulator.State.Handlers.Should().BeEmpty();
        var steps = Steps(await ShowAsync(server, MemberId));
        steps["bind"].Status.Should().Be("failed");
        steps["bind"].Detail.Should().Contain("Switchboard:PublicUrl");
        steps["verify"].Status.Should().Be("ok");
        steps["lines"].Status.Should().Be("ok");
        steps["users"].Status.Should().Be("ok");
    }

    [Fact]
    public async Task A_portal_answering_503_fails_the_step_with_the_reason_retries_and_does_not_refuse_the_install()
    {
        var server = await StartServerAsync();
        var journalId = await InstallAsync(server);
        _emulator.Faults.Outage = true;

        var outcome = await RunSetupAsync(server, MemberId, journalId);

        outcome.Should().BeOfType<CommandOutcome.Retry>().Which.Error.Should().Contain("503");
        var shown = await ShowAsync(server, MemberId);
        Steps(shown)["verify"].Should().Match<(string Status, string Detail)>(s => s.Status == "failed" && s.Detail.Contains("503"));
        shown.GetProperty("installRefused").ValueKind.Should().Be(JsonValueKind.Null, "a portal that is down has not refused anything");
        var callStart = _emulator.BuildEventBody("ONVOXIMPLANTCALLSTART", new Dictionary<string, string> { ["CALL_ID"] = "externalCall.outage.1", ["USER_ID"] = "1" });
        (await server.PostFormAsync(callStart)).StatusCode.Should().Be(HttpStatusCode.OK);

        _emulator.Faults.Outage = false;
        (await RunSetupAsync(server, MemberId, journalId, outboxId: 2)).Should().BeOfType<CommandOutcome.Done>();
        Steps(await ShowAsync(server, MemberId)).Should().OnlyContain(s => s.Value.Status == "ok");
    }

    [Fact]
    public async Task A_503_in_a_later_step_records_that_step_failed_with_the_reason_and_keeps_the_stored_users()
    {
        var server = await StartServerAsync();
        var journalId = await InstallAsync(server);
        await server.Store.ReplacePortalUsersAsync(MemberId, [new PortalUserRecord(1, "Anna Admin", "100", true)], default);
        // The portal's leaky bucket holds exactly app.info + 7 event.bind + 1 externalLine.add and
        // does not drain: user.get gets 503 QUERY_LIMIT_EXCEEDED (REFERENCE.md §4.4), also when retried.
        _emulator.Options.RateLimitBurst = 9;
        _emulator.Options.RateLimitDrainPerSecond = 0;

        var outcome = await RunSetupAsync(server, MemberId, journalId);

        outcome.Should().BeOfType<CommandOutcome.Retry>().Which.Error.Should().Contain("users").And.Contain("QUERY_LIMIT_EXCEEDED");
        var steps = Steps(await ShowAsync(server, MemberId));
        steps["users"].Status.Should().Be("failed");
        steps["users"].Detail.Should().Contain("QUERY_LIMIT_EXCEEDED").And.Contain("503");
        steps.Where(s => s.Key != "users").Should().OnlyContain(s => s.Value.Status == "ok");
        (await server.Store.GetPortalUsersAsync(MemberId, default)).Should().ContainSingle("a failed load leaves the last complete list");
    }

    [Fact]
    public async Task Incomplete_rest_settings_defer_with_the_setting_named_and_never_the_secret()
    {
        var server = await StartServerAsync(restSettings: false);
        var journalId = await InstallAsync(server);

        var outcome = await RunSetupAsync(server, MemberId, journalId);

        var error = outcome.Should().BeOfType<CommandOutcome.Defer>("nothing was tried: the attempt is not counted").Which.Reason;
        error.Should().Contain("Switchboard:Bitrix24:ClientId").And.NotContain(_emulator.Options.ClientSecret);
        Steps(await ShowAsync(server, MemberId))["verify"].Status.Should().Be("failed");
        _emulator.State.RequestLog.Should().BeEmpty("nothing is sent without the application's credentials");
    }

    [Fact]
    public async Task A_payload_that_is_not_a_setup_command_is_dead_at_once()
    {
        var server = await StartServerAsync();
        var handler = server.Services.GetServices<IOutboxHandler>().Single(h => h.Kinds.Contains(OutboxKinds.PortalSetup));
        var now = DateTimeOffset.UtcNow;
        var entry = new OutboxEntry(9, OutboxKinds.PortalSetup, "k", MemberId, "{\"event\":\"ONEXTERNALCALLSTART\"}", OutboxStatus.Claimed, 0, now, now, "test", now, null, null);

        var outcomes = await handler.ExecuteAsync(MemberId, [entry], CancellationToken.None);

        outcomes[9].Should().BeOfType<CommandOutcome.Fail>();
    }
}
