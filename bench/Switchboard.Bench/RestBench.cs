using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Switchboard.Bitrix24.Events;
using Switchboard.Calls;
using Switchboard.Emulator;
using Switchboard.Hosting;
using Switchboard.Outbox;

namespace Switchboard.Bench;

/// <summary>
/// <c>switchboard-bench rest</c>: how many REST requests Switchboard spends to report N finished calls
/// to a portal with Bitrix24's default limits (the emulator's bucket: 2 requests/s, burst 50), and how
/// long draining them takes. N calls are registered at the emulator and ended in the ledger while
/// Switchboard is stopped; then Switchboard starts and the clock runs until every finish is done.
/// </summary>
internal static class RestBench
{
    public static Command Command()
    {
        var calls = new Option<int>("--calls") { Description = "Finished calls waiting to be reported.", DefaultValueFactory = _ => 1000 };
        var batch = new Option<int>("--batch-size") { Description = "Switchboard:Outbox:BatchSize (commands claimed per pass; 50 fills one Bitrix24 batch).", DefaultValueFactory = _ => 50 };
        var command = new Command("rest", "REST requests and drain time for N finished calls against the portal emulator at Bitrix24's default rate limit (all in this process, loopback only).") { calls, batch };
        command.SetAction((parse, ct) => BenchCommands.Guard(() => RunAsync(parse.GetValue(calls), parse.GetValue(batch), ct)));
        return command;
    }

    private static async Task<int> RunAsync(int count, int batchSize, CancellationToken ct)
    {
        if (count < 1 || batchSize < 1)
        {
            throw new BenchAbortedException("--calls and --batch-size must be at least 1.");
        }

        // Bitrix24's defaults for a standard plan (REFERENCE §4.1), which are the emulator's too.
        await using var portal = new PortalEmulator(new EmulatorOptions { Url = "http://127.0.0.1:0", RateLimitDrainPerSecond = 2, RateLimitBurst = 50, EchoCallEvents = false });
        await portal.StartAsync(ct);
        var data = Directory.CreateTempSubdirectory("switchboard-rest-bench-");
        try
        {
            // A known port, so the install flow binds the portal's handlers to where Switchboard listens.
            var port = BenchHost.FreePort();
            var settings = portal.SwitchboardSettings();
            settings["urls"] = $"http://127.0.0.1:{port}";
            settings["Switchboard:PublicUrl"] = $"http://127.0.0.1:{port}/";
            settings["Switchboard:Store:DataDirectory"] = data.FullName;
            settings["Switchboard:Outbox:BatchSize"] = batchSize.ToString(CultureInfo.InvariantCulture);
            settings["Logging:LogLevel:Default"] = "Warning";

            // 1. Install, and let the set-up that follows an install finish.
            await using (var first = SwitchboardHost.Build([], settings))
            {
                await first.StartAsync(ct);
                var handler = new Uri($"http://127.0.0.1:{port}/bitrix24/events");
                var install = await portal.SendInstallAsync(handler, ct);
                if (install.Deliveries.Single().Status != 200)
                {
                    throw new BenchAbortedException("The install was not accepted.");
                }

                var outbox = first.Services.GetRequiredService<IOutboxStore>();
                await BenchHost.WaitAsync(async () => (await outbox.ListAsync(null, 100, ct)).All(e => e.Status is OutboxStatus.Done or OutboxStatus.Dead), TimeSpan.FromSeconds(60), "the outbox", ct);
                await first.StopAsync(ct);
            }

            // 2. N calls at the portal (registered in batches by an admin client) and ended in the ledger.
            Console.Error.WriteLine($"Registering {count} calls at the emulator…");
            IReadOnlyList<string> callIds;
            using (var admin = portal.CreateAdmin())
            {
                callIds = await admin.RegisterCallsAsync(count, ct);
            }

            var path = Path.Combine(data.FullName, "ledger.db");
            await using (var outbox = new SqliteOutboxStore(path))
            await using (var ledger = new SqliteCallStore(outbox))
            {
                var now = DateTimeOffset.UtcNow;
                foreach (var id in callIds)
                {
                    await ledger.ApplyAsync(new CallRegistered(id, portal.Options.MemberId, null, CallDirection.Outgoing, "+14155550000", null, 1, null, now), now, ct);
                    await ledger.ApplyAsync(new ManualFinish(id, CallStatusCode.Success, TimeSpan.FromSeconds(60), now), now, ct);
                }
            }

            // Let the portal's bucket empty after the registrations, so the drain starts from a quiet portal.
            // Everything sent so far (the install's set-up and the registrations) drains at 2/s.
            var quiet = TimeSpan.FromSeconds(Math.Ceiling(TopLevelRequests(portal) / 2.0) + 2);
            Console.Error.WriteLine($"Waiting {quiet.TotalSeconds:0} s for the portal's bucket to drain…");
            await Task.Delay(quiet, ct);

            // 3. Switchboard starts with N finishes due; the clock runs until the last is done.
            var before = TopLevelRequests(portal);
            var limited = Limited(portal);
            var clock = Stopwatch.StartNew();
            await using var app = SwitchboardHost.Build([], settings);
            await app.StartAsync(ct);
            var store = app.Services.GetRequiredService<IOutboxStore>();
            await BenchHost.WaitAsync(async () => (await store.ListAsync(OutboxStatus.Done, count + 100, ct)).Count(e => e.Kind == OutboxKinds.Finish) == count, TimeSpan.FromMinutes(30), "the outbox", ct);
            var elapsed = clock.Elapsed;
            await app.StopAsync(ct);

            var requests = TopLevelRequests(portal) - before;
            var refused = Limited(portal) - limited;
            var finishedOnce = callIds.Count(id => portal.State.RequestsFor(id, "telephony.externalCall.finish") == 1 && portal.State.FindCall(id)?.Finished == true);
            Console.WriteLine($"finished calls         {count}");
            Console.WriteLine($"batch size             {batchSize}");
            Console.WriteLine($"REST requests (HTTP)   {requests}  ({requests * 1000.0 / count:0.#} per 1,000 finished calls)");
            Console.WriteLine($"  of which refused 503 {refused}");
            Console.WriteLine($"drain time             {elapsed.TotalSeconds:0.00} s  ({count / elapsed.TotalSeconds:0} finishes/s)");
            Console.WriteLine($"each finished once     {finishedOnce} of {count}");
            return finishedOnce == count ? 0 : 1;
        }
        finally
        {
            data.Delete(recursive: true);
        }
    }


    private static int TopLevelRequests(PortalEmulator portal) => portal.State.RequestLog.Count(r => r.BatchCommand is null && r.Method != "oauth/token");

    private static int Limited(PortalEmulator portal) => portal.State.RequestLog.Count(r => r.BatchCommand is null && r.Status == 503);

}
