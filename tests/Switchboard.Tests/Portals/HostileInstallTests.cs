using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Switchboard.Emulator;
using Switchboard.Journal;
using Switchboard.Outbox;
using Switchboard.Portals;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Portals;

/// <summary>
/// Installs cost nothing durable until the OAuth server proves them (issue 18, item 2): a flood of
/// made-up installs creates no portal, token row or set-up command, and a genuine install among them
/// goes through; a sender with too many checks in progress is answered 429.
/// </summary>
public sealed class HostileInstallTests
{
    private static readonly IPAddress Attacker = IPAddress.Parse("127.0.0.2");

    [Fact]
    public async Task Five_thousand_fake_installs_keep_nothing_and_a_genuine_install_among_them_completes()
    {
        await using var lab = await PortalLab.StartAsync(install: false, settings: new Dictionary<string, string?>
        {
            // The emulator's host, and the cloud zone the fakes claim to be in.
            ["Switchboard:Install:AllowedDomains"] = "127.0.0.1, *.bitrix24.com",
            ["Logging:LogLevel:Switchboard.Receiving"] = "Error",
        });
        using var attacker = LoopbackSender.Create(Attacker, lab.Server.BaseAddress);
        var statuses = new ConcurrentDictionary<HttpStatusCode, int>();
        var fakeIds = new ConcurrentBag<string>();
        var sent = 0;
        EventSendResult? genuine = null;

        await Task.WhenAll(Enumerable.Range(0, 16).Select(async _ =>
        {
            while (Interlocked.Increment(ref sent) is var n && n <= 5_000)
            {
                if (n == 2_500)
                {
                    genuine = await lab.Emulator.SendInstallAsync(lab.HandlerUrl);
                }

                var fake = TestPortal.Unknown($"p{TestPortal.Hex(6)}.bitrix24.com");
                fakeIds.Add(fake.MemberId);
                using var response = await attacker.PostEventAsync(Bitrix24Events.Install(fake));
                statuses.AddOrUpdate(response.StatusCode, 1, (_, c) => c + 1);
            }
        }));

        statuses.Keys.Should().BeSubsetOf([HttpStatusCode.Forbidden, HttpStatusCode.TooManyRequests], "a fake install is refused or told to wait, never kept");
        statuses.GetValueOrDefault(HttpStatusCode.Forbidden).Should().BeGreaterThan(1_000, "most fakes reach the OAuth server and are refused there");
        genuine!.Deliveries.Should().ContainSingle().Which.Status.Should().Be(200);

        await PortalLab.WaitForSetupAsync(lab.Server, 1);
        (await lab.Server.Store.ListPortalsAsync(default)).Should().ContainSingle().Which.MemberId.Should().Be(lab.MemberId);
        foreach (var id in fakeIds)
        {
            (await lab.Server.Store.GetPortalTokensAsync(id, default)).Should().BeNull();
        }

        var outbox = lab.Server.Services.GetRequiredService<IOutboxStore>();
        (await outbox.ListAsync(null, 10_000, default)).Where(e => e.Kind == OutboxKinds.PortalSetup)
            .Should().ContainSingle().Which.MemberId.Should().Be(lab.MemberId);
        (await lab.Server.Store.CountEventsAsync(default)).Should().Be(1, "only the genuine install is journaled");
        lab.Emulator.State.Handlers.Should().NotBeEmpty("the genuine portal was set up");
    }

    [Fact]
    public async Task A_sender_over_its_bound_of_pending_checks_gets_429_while_another_sender_is_still_checked()
    {
        await using var lab = await PortalLab.StartAsync(install: false, settings: new Dictionary<string, string?>
        {
            ["Switchboard:Install:AllowedDomains"] = "127.0.0.1, *.bitrix24.com",
            ["Switchboard:Install:MaxPendingPerSender"] = "2",
        });
        // The OAuth server holds its next two answers: the attacker's first two checks stay in progress.
        lab.Emulator.Faults.Delay = TimeSpan.FromSeconds(3);
        lab.Emulator.Faults.FailNext(2, FaultKind.Delay, "oauth/token");
        using var attacker = LoopbackSender.Create(Attacker, lab.Server.BaseAddress);
        using var other = LoopbackSender.Create(IPAddress.Parse("127.0.0.3"), lab.Server.BaseAddress);

        var held = Enumerable.Range(0, 2).Select(_ => attacker.PostEventAsync(Bitrix24Events.Install(TestPortal.Unknown()))).ToList();
        await PortalLab.WaitUntilAsync(() => lab.Server.Services.GetRequiredService<VerificationAdmission>().Pending == 2, "two checks in progress");
        var over = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => attacker.PostEventAsync(Bitrix24Events.Install(TestPortal.Unknown()))));
        var elsewhere = await other.PostEventAsync(Bitrix24Events.Install(TestPortal.Unknown()));

        foreach (var response in over)
        {
            response.StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
            response.Content.Headers.ContentType!.MediaType.Should().Be("application/problem+json");
        }

        elsewhere.StatusCode.Should().Be(HttpStatusCode.Forbidden, "another sender's install is still checked (and this one refused)");
        (await Task.WhenAll(held)).Should().OnlyContain(r => r.StatusCode == HttpStatusCode.Forbidden);
        (await lab.Server.Store.ListPortalsAsync(default)).Should().BeEmpty();
    }

    [Fact]
    public void Checks_are_bounded_per_sender_and_in_total_and_a_finished_check_frees_its_place()
    {
        var admission = new VerificationAdmission(new FixedOptions(new InstallOptions { MaxPendingPerSender = 2, MaxPending = 3 }));

        using var a1 = admission.TryEnter("a");
        var a2 = admission.TryEnter("a");
        admission.TryEnter("a").Should().BeNull("a has two in progress");
        using var b1 = admission.TryEnter("b");
        admission.TryEnter("c").Should().BeNull("three in progress in total");
        a1.Should().NotBeNull();
        a2.Should().NotBeNull();
        b1.Should().NotBeNull();

        a2!.Dispose();
        a2.Dispose(); // once only
        using var c1 = admission.TryEnter("c");
        c1.Should().NotBeNull();
        admission.Pending.Should().Be(3);
    }

    [Fact]
    public async Task Without_client_credentials_an_install_is_kept_pending_and_untrusted_and_portals_list_shows_it()
    {
        var portal = TestPortal.Create();
        await using var server = await SwitchboardServer.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Switchboard:Bitrix24:ClientId"] = null,
            ["Switchboard:Bitrix24:ClientSecret"] = null,
        });

        (await server.PostFormAsync(Bitrix24Events.Install(portal))).StatusCode.Should().Be(HttpStatusCode.OK, "Bitrix24 sends an install once");

        var stored = (await server.Store.FindPortalAsync(portal.MemberId, default))!;
        stored.InstallRefused.Should().StartWith(EventVerifier.PendingPrefix).And.Contain("ClientId");
        (await server.PostFormAsync(Bitrix24Events.ExternalCallStart(portal))).StatusCode.Should().Be(HttpStatusCode.Unauthorized, "an unproven install's events are refused");
        var list = await Cli.CliRun.RunAsync("portals", "list", "--data", server.DataDirectory!, "--json");
        list.ExitCode.Should().Be(0, list.ToString());
        list.Json().EnumerateArray().Single().GetProperty("verification").GetString().Should().Be("pending");
    }

    [Fact]
    public async Task A_pending_install_is_proven_by_the_install_flow_once_the_credentials_are_set()
    {
        using var data = new TempDirectory();
        await using var emulator = new PortalEmulator(new EmulatorOptions { Url = "http://127.0.0.1:0" });
        await emulator.StartAsync();
        var port = ServerProcess.FreePort();
        var settings = PortalLab.Settings(emulator);
        settings["urls"] = $"http://127.0.0.1:{port}";
        settings["Switchboard:PublicUrl"] = $"http://127.0.0.1:{port}/";
        var withoutCredentials = new Dictionary<string, string?>(settings)
        {
            ["Switchboard:Bitrix24:ClientId"] = null,
            ["Switchboard:Bitrix24:ClientSecret"] = null,
            ["Switchboard:Outbox:Enabled"] = "false", // its set-up would only wait for the credentials
        };
        await using (var first = await SwitchboardServer.StartAsync(settings: withoutCredentials, dataDirectory: data.Path))
        {
            (await emulator.SendInstallAsync(new Uri(first.BaseAddress, "/bitrix24/events"))).Deliveries.Single().Status.Should().Be(200);
            (await first.Store.FindPortalAsync(emulator.Options.MemberId, default))!.InstallRefused.Should().StartWith(EventVerifier.PendingPrefix);
        }

        await using var second = await SwitchboardServer.StartAsync(settings: settings, dataDirectory: data.Path);
        await PortalLab.WaitForSetupAsync(second, 1);

        (await second.Store.FindPortalAsync(emulator.Options.MemberId, default))!.InstallRefused.Should().BeNull("the OAuth server proved it");
        emulator.State.RefreshCount.Should().Be(1, "the stored refresh token was exchanged once");
        var click = await emulator.SendClickToCallAsync(new ClickToCall { UserId = 1 });
        click.Deliveries.Should().ContainSingle().Which.Status.Should().Be(200, "a proven portal's events are accepted");
    }

    [Fact]
    public async Task A_portal_whose_set_up_hangs_does_not_hold_another_portals_set_up()
    {
        // Portal A's REST endpoint accepts connections and never answers: its app.info hangs.
        var silent = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        try
        {
            var hangPort = ((IPEndPoint)silent.LocalEndpoint).Port;
            await using var lab = await PortalLab.StartAsync(install: false, settings: new Dictionary<string, string?>
            {
                ["Switchboard:Setup:MaxRunTime"] = "00:00:02",
            });
            var hanging = TestPortal.Unknown($"127.0.0.1:{hangPort}");
            lab.Emulator.RegisterPortalGrant(hanging.MemberId, new Uri(hanging.ClientEndpoint), hanging.AccessToken, hanging.RefreshToken);
            (await lab.Server.PostFormAsync(Bitrix24Events.Install(hanging))).StatusCode.Should().Be(HttpStatusCode.OK);
            var outbox = lab.Server.Services.GetRequiredService<IOutboxStore>();
            await PortalLab.WaitUntilAsync(async () => (await outbox.ListAsync(null, 100, default))
                .Any(e => e.MemberId == hanging.MemberId && e.Kind == OutboxKinds.PortalSetup && e.Status == OutboxStatus.Claimed), "the hanging portal's set-up runs");

            (await lab.Emulator.SendInstallAsync(lab.HandlerUrl)).Deliveries.Single().Status.Should().Be(200);

            await PortalLab.WaitUntilAsync(async () => (await outbox.ListAsync(null, 100, default))
                .Any(e => e.MemberId == lab.MemberId && e.Kind == OutboxKinds.PortalSetup && e.Status == OutboxStatus.Done),
                "the other portal's set-up is done without waiting for the hanging one", TimeSpan.FromSeconds(15));
            (await outbox.ListAsync(null, 100, default)).Single(e => e.MemberId == hanging.MemberId).Status.Should().NotBe(OutboxStatus.Done);
        }
        finally
        {
            silent.Stop();
        }
    }

    private sealed class FixedOptions(InstallOptions value) : IOptionsMonitor<InstallOptions>
    {
        public InstallOptions CurrentValue => value;

        public InstallOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<InstallOptions, string?> listener) => null;
    }
}
