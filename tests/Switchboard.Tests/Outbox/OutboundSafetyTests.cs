using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Switchboard.Bitrix24.Rest;
using Switchboard.Emulator;
using Switchboard.Outbox;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Outbox;

/// <summary>
/// RELIABILITY rows SSRF and Limits with the whole server running, its workers included: an address in
/// an event is never called, and the portal never sees more than its bucket allows.
/// </summary>
public sealed partial class OutboundSafetyTests
{
    [Fact]
    public async Task No_request_reaches_a_client_endpoint_or_domain_taken_from_an_event()
    {
        // A trap on another loopback address. 127.0.0.0/8 is allowed for the lab, so the connect guard
        // alone would let a request through: what keeps it out is that no URL is ever taken from an event.
        using var trap = new TcpListener(IPAddress.Parse("127.0.0.2"), 0);
        trap.Start();
        var trapUrl = $"http://127.0.0.2:{((IPEndPoint)trap.LocalEndpoint).Port}/rest/";
        var connections = 0;
        using var stop = new CancellationTokenSource();
        var accepting = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var client = await trap.AcceptTcpClientAsync(stop.Token);
                Interlocked.Increment(ref connections);
            }
        });

        await using var lab = await PortalLab.StartAsync();
        await PortalLab.WaitForSetupAsync(lab.Server, 1, orDead: true);

        // An install naming the trap as its client_endpoint (on a host other than its domain): refused.
        var forgedInstall = WithEndpoint(lab.Emulator.BuildEventBody("ONAPPINSTALL", new Dictionary<string, string> { ["VERSION"] = "1" }), trapUrl);
        (await lab.Server.PostFormAsync(forgedInstall)).StatusCode.Should().Be(HttpStatusCode.Forbidden);

        // Events of the installed portal that carry the trap as client_endpoint: accepted, and the
        // update makes Switchboard talk to the portal (set-up again), at the address stored at install.
        var update = WithEndpoint(lab.Emulator.BuildEventBody("ONAPPUPDATE", new Dictionary<string, string> { ["VERSION"] = "2", ["PREVIOUS_VERSION"] = "1" }), trapUrl);
        (await lab.Server.PostFormAsync(update)).StatusCode.Should().Be(HttpStatusCode.OK);
        var click = WithEndpoint(lab.Emulator.BuildEventBody("ONEXTERNALCALLSTART", new Dictionary<string, string>
        {
            ["CALL_ID"] = "externalCall.trap", ["USER_ID"] = "1", ["PHONE_NUMBER"] = "+14155550100",
        }), trapUrl);
        (await lab.Server.PostFormAsync(click)).StatusCode.Should().Be(HttpStatusCode.OK);
        var requestsBefore = lab.Emulator.State.RequestLog.Count;
        await PortalLab.WaitForSetupAsync(lab.Server, 2, orDead: true);

        lab.Emulator.State.RequestLog.Count.Should().BeGreaterThan(requestsBefore, "the update's set-up went to the stored portal address");
        await stop.CancelAsync();
        trap.Stop();
        await accepting.ContinueWith(_ => { }, TaskScheduler.Default);
        connections.Should().Be(0);
        (await lab.Server.Store.FindPortalAsync(lab.MemberId, default))!.ClientEndpoint.Should().Be(lab.Emulator.ClientEndpoint.ToString());
    }

    [Fact]
    public async Task A_burst_of_250_requests_never_exceeds_the_portal_s_bucket()
    {
        // The portal enforces 50/s with a burst of 15, Switchboard is configured for 50/s, burst 10.
        // Five requests of slack (100 ms at this rate, and the default headroom) absorb arrival jitter
        // on loopback; the portal answers 503 QUERY_LIMIT_EXCEEDED to anything beyond its bucket, so one
        // 503 would mean it was exceeded. (With two of slack, full-suite runs on this two-core machine
        // failed it twice in two days; the failing assertion of the second was not captured.)
        await using var lab = await PortalLab.StartAsync(
            settings: new Dictionary<string, string?>
            {
                ["Switchboard:Bitrix24:RequestsPerSecond"] = "50",
                ["Switchboard:Bitrix24:Burst"] = "10",
            },
            emulatorOptions: new EmulatorOptions { Url = "http://127.0.0.1:0", RateLimitDrainPerSecond = 50, RateLimitBurst = 15 });
        await PortalLab.WaitForSetupAsync(lab.Server, 1, orDead: true);
        var rest = lab.Server.Services.GetRequiredService<Bitrix24RestClient>();
        var before = lab.Emulator.State.RequestLog.Count;

        var started = DateTime.UtcNow;
        var results = await Task.WhenAll(Enumerable.Range(0, 250).Select(_ => rest.CallAsync(lab.MemberId, "app.info")));
        var took = DateTime.UtcNow - started;

        results.Should().OnlyContain(r => r.IsSuccess);
        // Every request the portal saw in the window was answered, the burst's 250 and anything the
        // server sent besides (seen under load: one more request besides the burst, from the set-up's tail).
        var sent = lab.Emulator.State.RequestLog.Skip(before).ToList();
        sent.Should().OnlyContain(r => r.Status == 200, "the portal never had to refuse one");
        sent.Count(r => r.Method == "app.info").Should().Be(250, "others in the window: " + string.Join(", ", sent.Where(r => r.Method != "app.info").Select(r => r.Method)));
        took.Should().BeGreaterThan(TimeSpan.FromSeconds((250 - 10) / 50.0 - 0.3), "250 requests at 50/s after a burst of 10");
    }

    [Fact]
    public async Task A_method_blocked_with_429_waits_for_the_reset_the_portal_gave_and_then_goes_through()
    {
        // One call of a method spends its budget (30 ms of 20 ms) for a 2 s window. No outbox worker:
        // the install's set-up would meet the same limit on every event.bind (it waits it out too).
        await using var lab = await PortalLab.StartAsync(
            settings: new Dictionary<string, string?> { ["Switchboard:Outbox:Enabled"] = "false" },
            emulatorOptions: new EmulatorOptions
            {
                Url = "http://127.0.0.1:0",
                OperatingLimit = TimeSpan.FromMilliseconds(20),
                OperatingCostPerCall = TimeSpan.FromMilliseconds(30),
                OperatingWindow = TimeSpan.FromSeconds(2),
            });
        var rest = lab.Server.Services.GetRequiredService<Bitrix24RestClient>();
        (await rest.CallAsync(lab.MemberId, "app.info")).IsSuccess.Should().BeTrue();
        var before = lab.Emulator.State.RequestLog.Count;

        var started = DateTime.UtcNow;
        var blocked = await rest.CallAsync(lab.MemberId, "app.info");

        blocked.IsSuccess.Should().BeTrue(blocked.Error?.ToString());
        var sent = lab.Emulator.State.RequestLog.Skip(before).ToList();
        sent.Select(r => r.Status).Should().Equal([429, 200], "refused once with OPERATION_TIME_LIMIT, then sent again after the reset");
        (DateTime.UtcNow - started).Should().BeGreaterThan(TimeSpan.FromSeconds(1), "it waited for operating_reset_at rather than hammering the portal");
    }

    private static string WithEndpoint(string body, string url) =>
        ClientEndpointField().Replace(body, m => m.Groups[1].Value + Uri.EscapeDataString(url));

    [GeneratedRegex(@"(auth(?:%5B|\[)client_endpoint(?:%5D|\])=)[^&]*")]
    private static partial Regex ClientEndpointField();
}
