using Microsoft.Extensions.DependencyInjection;
using Switchboard.Emulator;
using Switchboard.Outbox;

namespace Switchboard.Tests.Infrastructure;

/// <summary>
/// A Switchboard server pointed at the portal emulator the way the README's lab section says: the
/// emulator's app credentials, http allowed, 127.0.0.0/8 allowed for outbound requests, the install
/// delivered. What an integrator runs to try a set-up, as a test fixture.
/// </summary>
public sealed class PortalLab : IAsyncDisposable
{
    private PortalLab(PortalEmulator emulator, SwitchboardServer server)
    {
        Emulator = emulator;
        Server = server;
    }

    public PortalEmulator Emulator { get; }

    public SwitchboardServer Server { get; }

    public string MemberId => Emulator.Options.MemberId;

    public Uri HandlerUrl => new(Server.BaseAddress, "/bitrix24/events");

    /// <summary>The settings that point a server at <paramref name="emulator"/>.</summary>
    public static Dictionary<string, string?> Settings(PortalEmulator emulator)
    {
        var settings = emulator.SwitchboardSettings();
        // Tests wait on the outbox; keep its retries short.
        settings["Switchboard:Outbox:RetryBaseDelay"] = "00:00:00.200";
        settings["Switchboard:Outbox:RetryMaxDelay"] = "00:00:01";
        settings["Switchboard:Outbox:PollInterval"] = "00:00:00.100";
        settings["Switchboard:Ledger:PollInterval"] = "00:00:00.100";
        return settings;
    }

    /// <summary>
    /// A PBX that never answers, for tests that make calls with clicks but finish them themselves:
    /// without any PBX a click is finished at once as not placed, and with this one it waits (up to a
    /// deadline far beyond any test).
    /// </summary>
    public static Dictionary<string, string?> UnreachablePbx() => new()
    {
        ["Switchboard:Pbx:Asterisk:down:Port"] = ServerProcess.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Switchboard:Pbx:Asterisk:down:Username"] = "switchboard",
        ["Switchboard:Pbx:Asterisk:down:Secret"] = "s3cret",
        ["Switchboard:Pbx:Asterisk:down:OriginateDeadline"] = "3650.00:00:00", // the fixtures' clicks are months old
    };

    /// <summary>The same settings as <c>--Key=Value</c> arguments, for a server started as a child process.</summary>
    public static string[] Arguments(PortalEmulator emulator, params string[] more) =>
        [.. Settings(emulator).Select(kv => $"--{kv.Key}={kv.Value}"), .. more];

    public static async Task<PortalLab> StartAsync(string? postgres = null, IReadOnlyDictionary<string, string?>? settings = null, EmulatorOptions? emulatorOptions = null, bool install = true)
    {
        var emulator = new PortalEmulator(emulatorOptions ?? new EmulatorOptions { Url = "http://127.0.0.1:0" });
        await emulator.StartAsync();
        var all = Settings(emulator);
        // A known port, so the install flow can bind the handlers to where this server listens.
        var port = ServerProcess.FreePort();
        all["urls"] = $"http://127.0.0.1:{port}";
        all["Switchboard:PublicUrl"] = $"http://127.0.0.1:{port}/";
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>())
        {
            all[k] = v;
        }

        var server = await SwitchboardServer.StartAsync(postgres, all);
        var lab = new PortalLab(emulator, server);
        if (install)
        {
            var sent = await emulator.SendInstallAsync(lab.HandlerUrl);
            sent.Deliveries.Single().Status.Should().Be(200);
        }

        return lab;
    }

    /// <summary>
    /// Waits until <paramref name="count"/> portal.setup commands (one per install or update) are done,
    /// or, with <paramref name="orDead"/>, finished either way.
    /// </summary>
    public static Task WaitForSetupAsync(SwitchboardServer server, int count, bool orDead = false)
    {
        var outbox = server.Services.GetRequiredService<IOutboxStore>();
        return WaitUntilAsync(async () => (await outbox.ListAsync(null, 1000, default))
            .Count(e => e.Kind == OutboxKinds.PortalSetup && (e.Status == OutboxStatus.Done || (orDead && e.Status == OutboxStatus.Dead))) == count,
            $"{count} portal.setup command(s) {(orDead ? "finished" : "done")}");
    }

    /// <summary>Polls <paramref name="condition"/> until it holds or the deadline passes (then fails with <paramref name="what"/>).</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("Timed out waiting until " + what);
            }

            await Task.Delay(25);
        }
    }

    public static Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        WaitUntilAsync(() => Task.FromResult(condition()), what, timeout);

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        await Emulator.DisposeAsync();
    }
}
