using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Switchboard.Bitrix24.Events;
using Switchboard.Calls;
using Switchboard.Emulator;
using Switchboard.Tests.Durability;
using Switchboard.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Switchboard.Tests.Portals;

/// <summary>
/// Issue 18, item 1: forged ONAPPUPDATEs (the real member_id and domain, random tokens) from 64
/// senders at once for 30 s cannot delay a real portal's call finish or its own token change: the
/// checks go to the OAuth server, never through the portal's REST budget, and a sender's checks in
/// progress are bounded. A load test: it runs alone, in the crash collection.
/// </summary>
[Collection(CrashTestGroup.Name)]
public sealed class ForgedUpdateFloodTests(ITestOutputHelper log)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task A_flood_of_forged_updates_delays_neither_a_real_finish_nor_the_portals_own_token_change()
    {
        await using var lab = await PortalLab.StartAsync(settings: new Dictionary<string, string?>
        {
            // Tens of thousands of rejections: the test reads the answers, not the log lines.
            ["Logging:LogLevel:Switchboard.Receiving"] = "Error",
            ["Logging:LogLevel:Switchboard.Portals"] = "Error",
        });
        await PortalLab.WaitForSetupAsync(lab.Server, 1);
        using var attacker = LoopbackSender.Create(IPAddress.Parse("127.0.0.2"), lab.Server.BaseAddress);
        var statuses = new ConcurrentDictionary<HttpStatusCode, int>();
        using var stop = new CancellationTokenSource();
        var flooding = Stopwatch.StartNew();

        var senders = Enumerable.Range(0, 64).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await attacker.PostEventAsync(ForgedUpdate(lab), stop.Token);
                    statuses.AddOrUpdate(response.StatusCode, 1, (_, c) => c + 1);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                }
            }
        })).ToList();

        // A real call, finished by hand while the flood runs: the finish goes out through the portal's budget.
        await PortalLab.WaitUntilAsync(() => statuses.Values.Sum() > 1_000, "the flood is on");
        var click = await lab.Emulator.SendClickToCallAsync(new ClickToCall { UserId = 1 });
        click.Deliveries.Should().ContainSingle().Which.Status.Should().Be(200);
        var callId = click.CallId!;
        var calls = lab.Server.Services.GetRequiredService<SqlCallStore>();
        await PortalLab.WaitUntilAsync(async () => await calls.GetAsync(callId, default) is not null, "the ledger has the call");
        var finishing = Stopwatch.StartNew();
        (await calls.ApplyAsync(new ManualFinish(callId, CallStatusCode.Success, TimeSpan.FromSeconds(12), DateTimeOffset.UtcNow), DateTimeOffset.UtcNow, default)).Should().NotBeNull();
        await PortalLab.WaitUntilAsync(() => lab.Emulator.State.FindCall(callId)?.Finished == true, "the finish reached the portal", TimeSpan.FromSeconds(30));
        var finish = finishing.Elapsed;

        // The portal's own update with a new application token, later in the flood.
        await PortalLab.WaitUntilAsync(() => flooding.Elapsed > TimeSpan.FromSeconds(15), "half the flood has passed", TimeSpan.FromSeconds(30));
        var newToken = TestPortal.Hex(16);
        var updating = Stopwatch.StartNew();
        var update = await lab.Emulator.SendAppUpdateAsync("2", newApplicationToken: newToken);
        var change = updating.Elapsed;

        await PortalLab.WaitUntilAsync(() => flooding.Elapsed > TimeSpan.FromSeconds(30), "the flood's 30 s", TimeSpan.FromSeconds(60));
        await stop.CancelAsync();
        await Task.WhenAll(senders);

        log.WriteLine($"finish {finish.TotalMilliseconds:0} ms, token change {change.TotalMilliseconds:0} ms; forged answers: {string.Join(", ", statuses.Select(kv => $"{(int)kv.Key}×{kv.Value}"))}");
        update.Deliveries.Should().NotBeEmpty().And.OnlyContain(d => d.Status == 200, "the portal's own token change goes through");
        change.Should().BeLessThan(Limit);
        finish.Should().BeLessThan(Limit);
        statuses.Keys.Should().BeSubsetOf([HttpStatusCode.Forbidden, HttpStatusCode.TooManyRequests], "a forged update is refused or told to wait");
        statuses.GetValueOrDefault(HttpStatusCode.Forbidden).Should().BeGreaterThan(0);
        var stored = (await lab.Server.Store.FindPortalAsync(lab.MemberId, default))!;
        stored.TokenHash.Should().Be(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(newToken))), "the genuine change, and no forged one, holds");
        lab.Emulator.State.RequestLog.Count(r => r.Method == "app.info").Should().BeLessThan(10, "forged updates cost the portal no REST calls");
    }

    private static string ForgedUpdate(PortalLab lab)
    {
        var endpoint = lab.Emulator.ClientEndpoint.ToString();
        return Bitrix24Events.Body(
            "ONAPPUPDATE",
            new() { ["VERSION"] = "9", ["PREVIOUS_VERSION"] = "1", ["LANGUAGE_ID"] = "en" },
            new()
            {
                ["access_token"] = TestPortal.Hex(16),
                ["expires_in"] = "3600",
                ["scope"] = "telephony,crm,user",
                ["domain"] = lab.Emulator.ClientEndpoint.Authority,
                ["server_endpoint"] = endpoint,
                ["status"] = "L",
                ["client_endpoint"] = endpoint,
                ["member_id"] = lab.MemberId,
                ["refresh_token"] = TestPortal.Hex(16),
                ["application_token"] = TestPortal.Hex(16),
            });
    }
}
