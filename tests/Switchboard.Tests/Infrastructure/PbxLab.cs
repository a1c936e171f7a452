using Microsoft.Extensions.DependencyInjection;
using Switchboard.AsteriskEmulator;
using Switchboard.Calls;
using Switchboard.Emulator;
using Switchboard.Outbox;
using Switchboard.Pbx;

namespace Switchboard.Tests.Infrastructure;

/// <summary>
/// Both emulators and Switchboard between them, as the README's "try it" section sets them up: the
/// portal emulator installs Switchboard, the Asterisk emulator is its PBX over AMI on loopback. The
/// Asterisk emulator runs at <see cref="Speed"/> times real time, so a call of seconds takes a fraction.
/// </summary>
public sealed class PbxLab : IAsyncDisposable
{
    public const double Speed = 10;

    private readonly TempDirectory _recordings;

    private PbxLab(PortalLab portal, EmulatedAsterisk asterisk, TempDirectory recordings)
    {
        Portal = portal;
        Asterisk = asterisk;
        _recordings = recordings;
    }

    public PortalLab Portal { get; }

    public EmulatedAsterisk Asterisk { get; }

    public PortalEmulator Bitrix24 => Portal.Emulator;

    public SwitchboardServer Server => Portal.Server;

    public AsteriskConnector Connector => Server.Services.GetRequiredService<PbxRegistry>().Connectors.Single();

    public string RecordingDirectory => _recordings.Path;

    /// <summary>The settings that point a Switchboard at <paramref name="asterisk"/> as PBX "lab".</summary>
    public static Dictionary<string, string?> Settings(EmulatedAsterisk asterisk) => new()
    {
        ["Switchboard:Pbx:Asterisk:lab:Host"] = "127.0.0.1",
        ["Switchboard:Pbx:Asterisk:lab:Port"] = asterisk.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Switchboard:Pbx:Asterisk:lab:Username"] = asterisk.Options.Username,
        ["Switchboard:Pbx:Asterisk:lab:Secret"] = asterisk.Options.Secret,
        ["Switchboard:Pbx:Asterisk:lab:RecordingSettleTime"] = "00:00:00.300",
        // The emulated office's phones are Local channels in [phones], as in the lab the transcripts come from.
        ["Switchboard:Pbx:Asterisk:lab:OriginateChannel"] = "Local/{extension}@phones",
        ["Switchboard:Pbx:LeaseDuration"] = "00:00:03",
    };

    public static async Task<PbxLab> StartAsync(Action<AsteriskEmulatorOptions>? configure = null, IReadOnlyDictionary<string, string?>? settings = null)
    {
        var recordings = new TempDirectory();
        var options = new AsteriskEmulatorOptions
        {
            Port = ServerProcess.FreePort(),
            Speed = Speed,
            RecordingDirectory = recordings.Path,
            AuthFailureDelay = TimeSpan.FromMilliseconds(50),
        };
        configure?.Invoke(options);
        var asterisk = new EmulatedAsterisk(options);
        await asterisk.StartAsync();
        var all = Settings(asterisk);
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>())
        {
            all[k] = v;
        }

        return await StartAsync(asterisk, recordings, all);
    }

    /// <summary>A lab around a started <paramref name="asterisk"/>, with exactly these Switchboard <paramref name="settings"/> (see <see cref="Settings"/>).</summary>
    public static async Task<PbxLab> StartAsync(EmulatedAsterisk asterisk, TempDirectory recordings, IReadOnlyDictionary<string, string?> settings)
    {
        // The office's people: 1 (the admin) has extension 100, which the PBX does not have; 2-5 have the
        // lab's phones 101-104; 6 has no extension at all.
        var users = new EmulatorOptions().Users.Take(3).ToList();
        users.Add(new EmulatedUser { Id = 4, Name = "Dmitri", LastName = "Operator", Email = "dmitri@example.test", PhoneInner = "103" });
        users.Add(new EmulatedUser { Id = 5, Name = "Elena", LastName = "Operator", Email = "elena@example.test", PhoneInner = "104" });
        users.Add(new EmulatedUser { Id = 6, Name = "Fyodor", LastName = "Sales", Email = "fyodor@example.test" });
        var portal = await PortalLab.StartAsync(settings: settings, emulatorOptions: new EmulatorOptions { Url = "http://127.0.0.1:0", Users = users });
        var lab = new PbxLab(portal, asterisk, recordings);
        await PortalLab.WaitForSetupAsync(portal.Server, 1);
        await PortalLab.WaitUntilAsync(() => lab.Connector.IsReady, "the PBX is connected");
        return lab;
    }

    /// <summary>A click in the CRM by <paramref name="user"/> on <paramref name="number"/>; its CALL_ID.</summary>
    public async Task<string> ClickAsync(long user, string number)
    {
        var click = await Bitrix24.SendClickToCallAsync(new ClickToCall { UserId = user, PhoneNumber = number });
        click.Deliveries.Single().Status.Should().Be(200);
        return click.CallId!;
    }

    /// <summary>Waits until the portal has the call finished; on a timeout, says what the ledger and the outbox had.</summary>
    public async Task<IReadOnlyDictionary<string, string>> FinishedAsync(string callId, TimeSpan? timeout = null)
    {
        try
        {
            await PortalLab.WaitUntilAsync(() => Bitrix24.State.FindCall(callId)?.Finished == true, "the portal has the call finished", timeout ?? TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException(await DescribeAsync(callId));
        }

        return Bitrix24.State.FindCall(callId)!.FinishParameters!;
    }

    public async Task<CallRecord> RecordAsync(string callId) =>
        (await Server.Services.GetRequiredService<SqlCallStore>().GetAsync(callId, default))!.Record;

    /// <summary>Waits until the call's customer (or, inbound, a user) answered, as the ledger has it.</summary>
    public Task AnsweredAsync(string callId) =>
        PortalLab.WaitUntilAsync(async () => (await Server.Services.GetRequiredService<SqlCallStore>().GetAsync(callId, default))?.Record.AnsweredAt is not null, "the call is answered");

    public async Task<string> DescribeAsync(string callId)
    {
        var record = await Server.Services.GetRequiredService<SqlCallStore>().GetAsync(callId, default);
        var outbox = await Server.Services.GetRequiredService<IOutboxStore>().ListAsync(null, 100, default);
        return $"Call {callId} not finished at the portal.\nLedger: {(record is null ? "none" : System.Text.Json.JsonSerializer.Serialize(record.Record, CallJson.Options))}"
            + "\nOutbox: " + string.Join("\n  ", outbox.Select(e => $"{e.Kind} {e.Status} {e.LastError}"))
            + "\nPBX: " + System.Text.Json.JsonSerializer.Serialize(Connector.Status, PbxJson.Options)
            + "\nLog:\n" + string.Join("\n", Server.Logs.Lines
                .Where(l => l.Contains("Pbx", StringComparison.Ordinal) || l.Contains("Asterisk", StringComparison.Ordinal) || l.StartsWith("Error", StringComparison.Ordinal) || l.StartsWith("Warning", StringComparison.Ordinal))
                .TakeLast(40).Select(l => l.Length > 400 ? l[..400] : l));
    }

    public async ValueTask DisposeAsync()
    {
        await Portal.DisposeAsync();
        await Asterisk.DisposeAsync();
        _recordings.Dispose();
    }
}
