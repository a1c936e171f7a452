using Microsoft.Extensions.DependencyInjection;
using Switchboard.Bitrix24.Events;
using Switchboard.Calls;
using Switchboard.Emulator;
using Switchboard.Outbox;
using Switchboard.Pbx;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Pbx;

/// <summary>
/// A click in the portal emulator → Switchboard's Originate → the bytes a real Asterisk 22.10.1 sent
/// for that call, over a real TCP socket → the ledger and the commands sent to the portal emulator.
/// The transcripts are Asterisk's own output (tests/Fixtures/asterisk/README.md).
/// </summary>
public sealed class TranscriptReplayTests
{
    /// <summary>The CALL_ID the recording client put in SB_CALL_ID; the replay puts the connector's in its place.</summary>
    private const string RecordedCallId = "externalCall.89350264e026dace3f2b14d1f438257c.1773236989";

    /// <summary>Boris, whose UF_PHONE_INNER is 101 in the portal emulator's default users.</summary>
    private const long UserOf101 = 2;

    [Fact]
    public async Task Click_to_call_answered_is_finished_200_for_101_s_user_with_the_talk_time_and_the_recording()
    {
        using var recordings = new TempDirectory();
        // Where the transcript's MixMonitor wrote (VarSet MIXMONITOR_FILENAME), mapped to a folder here.
        var wav = Path.Combine(recordings.Path, "out-1796643874.0.wav");
        await File.WriteAllBytesAsync(wav, Wav.Tone(TimeSpan.FromSeconds(1)));
        await using var asterisk = TranscriptAsterisk.Start("c2c-answered.ami", RecordedCallId);
        await using var lab = await StartAsync(asterisk, recordings.Path);

        var callId = await ClickAsync(lab);
        await ReplayedAsync(lab, asterisk);

        await FinishedAsync(lab, callId);
        var finish = lab.Emulator.State.FindCall(callId)!.FinishParameters!;
        finish["STATUS_CODE"].Should().Be("200");
        finish["USER_ID"].Should().Be(UserOf101.ToString(System.Globalization.CultureInfo.InvariantCulture));
        // app_dial's ANSWEREDTIME_MS is 4025: the customer talked four seconds.
        finish["DURATION"].Should().Be("4");

        await PortalLab.WaitUntilAsync(() => lab.Emulator.State.Recordings.Any(r => r.CallId == callId), "the recording is attached");
        lab.Emulator.State.Recordings.Single(r => r.CallId == callId).FileName.Should().Be("out-1796643874.0.wav");

        var record = (await lab.Server.Services.GetRequiredService<SqlCallStore>().GetAsync(callId, default))!.Record;
        record.Outcome!.Status.Should().Be(CallStatusCode.Success);
        record.LastAnswer!.UserId.Should().Be(UserOf101);
        record.LastAnswer.Extension.Should().Be("101");
        record.Recordings.Items.Should().ContainSingle().Which.Should().Be(wav);
        record.Reconstructed.Should().BeFalse();
        lab.Emulator.State.RequestsFor(callId, "telephony.externalCall.finish").Should().Be(1, "one call, one finish");

        // The Originate carried the CALL_ID to the PBX and asked for the user's phone first.
        var originate = asterisk.Actions.Single(a => a.Name == "Originate").Fields;
        originate.Should().Contain(new KeyValuePair<string, string>("Channel", "Local/101@from-internal"))
            .And.Contain(new KeyValuePair<string, string>("Exten", "+14155551234"))
            .And.Contain(new KeyValuePair<string, string>("Async", "true"))
            .And.Contain(new KeyValuePair<string, string>("Variable", "SB_CALL_ID=" + callId))
            .And.Contain(new KeyValuePair<string, string>("ChannelId", CallTracker.PbxCallIdFor(callId)));
    }

    [Fact]
    public async Task Click_to_call_to_a_busy_phone_is_finished_486_for_the_clicking_user_with_no_recording()
    {
        using var recordings = new TempDirectory();
        await using var asterisk = TranscriptAsterisk.Start("c2c-user-busy.ami", RecordedCallId);
        await using var lab = await StartAsync(asterisk, recordings.Path, extensionOfUser2: "102");

        var callId = await ClickAsync(lab);
        await ReplayedAsync(lab, asterisk);

        await FinishedAsync(lab, callId);
        var finish = lab.Emulator.State.FindCall(callId)!.FinishParameters!;
        finish["STATUS_CODE"].Should().Be("486");
        finish["USER_ID"].Should().Be(UserOf101.ToString(System.Globalization.CultureInfo.InvariantCulture));
        finish["DURATION"].Should().Be("0");
        finish.Should().ContainKey("FAILED_REASON").WhoseValue.Should().Contain("102").And.Contain("busy");

        var record = (await lab.Server.Services.GetRequiredService<SqlCallStore>().GetAsync(callId, default))!.Record;
        record.Outcome!.Status.Should().Be(CallStatusCode.Busy);
        record.AnsweredAt.Should().BeNull();
        lab.Emulator.State.Recordings.Should().BeEmpty();
        lab.Emulator.State.RequestsFor(callId, "telephony.externalCall.finish").Should().Be(1);
    }

    /// <summary>A server with one PBX, the fake Asterisk, pointed at the portal emulator, installed and connected.</summary>
    private static async Task<PortalLab> StartAsync(TranscriptAsterisk asterisk, string recordingsPath, string extensionOfUser2 = "101")
    {
        var (user, secret) = TranscriptAsterisk.Credentials;
        var emulator = new EmulatorOptions { Url = "http://127.0.0.1:0" };
        emulator.Users[1] = emulator.Users[1] with { PhoneInner = extensionOfUser2 };
        var lab = await PortalLab.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Switchboard:Pbx:Asterisk:lab:Host"] = "127.0.0.1",
            ["Switchboard:Pbx:Asterisk:lab:Port"] = asterisk.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Switchboard:Pbx:Asterisk:lab:Username"] = user,
            ["Switchboard:Pbx:Asterisk:lab:Secret"] = secret,
            ["Switchboard:Pbx:Asterisk:lab:RecordingPathFrom"] = "/var/spool/asterisk/monitor",
            ["Switchboard:Pbx:Asterisk:lab:RecordingPathTo"] = recordingsPath,
            ["Switchboard:Pbx:Asterisk:lab:RecordingSettleTime"] = "00:00:00.300",
        }, emulatorOptions: emulator);
        await PortalLab.WaitForSetupAsync(lab.Server, 1);
        var pbx = lab.Server.Services.GetRequiredService<PbxRegistry>().Connectors.Single();
        await PortalLab.WaitUntilAsync(() => pbx.IsReady, "the PBX is connected");
        return lab;
    }

    /// <summary>Waits for the portal to have the call finished; on a timeout, says what the ledger and the outbox had.</summary>
    internal static async Task FinishedAsync(PortalLab lab, string callId, TimeSpan? timeout = null)
    {
        try
        {
            await PortalLab.WaitUntilAsync(() => lab.Emulator.State.FindCall(callId)?.Finished == true, "the portal has the call finished", timeout);
        }
        catch (TimeoutException)
        {
            var record = await lab.Server.Services.GetRequiredService<SqlCallStore>().GetAsync(callId, default);
            var outbox = await lab.Server.Services.GetRequiredService<IOutboxStore>().ListAsync(null, 100, default);
            throw new TimeoutException($"Call {callId} not finished at the portal.\nLedger: {(record is null ? "none" : System.Text.Json.JsonSerializer.Serialize(record.Record, CallJson.Options))}"
                + "\nOutbox: " + string.Join("\n  ", outbox.Select(e => $"{e.Kind} {e.Status} {e.LastError}"))
                + "\nLog:\n" + string.Join("\n", lab.Server.Logs.Lines.Where(l => l.Contains("Pbx", StringComparison.Ordinal) || l.Contains("Asterisk", StringComparison.Ordinal) || l.StartsWith("Error", StringComparison.Ordinal) || l.StartsWith("Warning", StringComparison.Ordinal)).TakeLast(40).Select(l => l.Length > 300 ? l[..300] : l)));
        }
    }

    private static async Task ReplayedAsync(PortalLab lab, TranscriptAsterisk asterisk)
    {
        try
        {
            await asterisk.Replayed.Task.WaitAsync(TimeSpan.FromSeconds(20));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException("No Originate reached the PBX. Actions: " + string.Join(", ", asterisk.Actions.Select(a => a.Name))
                + "\nLog:\n" + string.Join("\n", lab.Server.Logs.Lines.TakeLast(40)));
        }
    }

    private static async Task<string> ClickAsync(PortalLab lab)
    {
        var click = await lab.Emulator.SendClickToCallAsync(new ClickToCall { UserId = UserOf101, PhoneNumber = "+14155551234" });
        click.Deliveries.Single().Status.Should().Be(200);
        return click.CallId!;
    }
}
