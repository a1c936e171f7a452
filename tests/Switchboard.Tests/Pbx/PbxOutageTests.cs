using System.Net;
using Switchboard.AsteriskEmulator;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Pbx;

/// <summary>
/// AMI never replays an event: a cut connection or a restarted Asterisk in the middle of a call must
/// leave no call open and finish none twice. The connector reconciles with the
/// live channels (CoreShowChannels) after every (re)connect.
/// </summary>
public sealed class PbxOutageTests
{
    /// <summary>A long talk (40 emulated seconds, 4 s real), so there is time to cut in the middle.</summary>
    private static void LongTalk(AsteriskEmulatorOptions o)
    {
        o.Phones["101"] = PartyBehaviour.Answers(1, 120);
        o.DefaultCustomer = PartyBehaviour.Answers(1, 40, tone: "440");
    }

    [Fact]
    public async Task A_cut_AMI_connection_mid_call_is_reconnected_and_the_call_finished_once_with_its_real_outcome()
    {
        await using var lab = await PbxLab.StartAsync(LongTalk);
        var callId = await lab.ClickAsync(2, "+14155551234");
        await lab.AnsweredAsync(callId);

        lab.Asterisk.DropAllSessions();

        var finish = await lab.FinishedAsync(callId);
        finish["STATUS_CODE"].Should().Be("200");
        finish["DURATION"].Should().Be("40", "the call went on while the connection was re-made and its end was seen");
        (await lab.RecordAsync(callId)).Reconstructed.Should().BeFalse();
        lab.Bitrix24.State.RequestsFor(callId, "telephony.externalCall.finish").Should().Be(1);
    }

    [Fact]
    public async Task A_call_that_ends_while_the_PBX_is_unreachable_is_finished_once_as_answered_and_marked_reconstructed()
    {
        var recordings = new TempDirectory();
        var asterisk = new EmulatedAsterisk(new AsteriskEmulatorOptions { Port = ServerProcess.FreePort(), Speed = PbxLab.Speed, RecordingDirectory = recordings.Path });
        LongTalk(asterisk.Options);
        await asterisk.StartAsync();
        using var network = new TcpForwarder(new IPEndPoint(IPAddress.Loopback, asterisk.Port));
        var settings = PbxLab.Settings(asterisk);
        settings["Switchboard:Pbx:Asterisk:lab:Port"] = network.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await using var lab = await PbxLab.StartAsync(asterisk, recordings, settings);

        var callId = await lab.ClickAsync(2, "+14155551234");
        await lab.AnsweredAsync(callId);

        network.Stop();
        await PortalLab.WaitUntilAsync(() => !lab.Connector.IsReady, "the connector saw the connection go");
        lab.Asterisk.HangupChannels(PbxCallIdOf(callId)).Should().BeGreaterThan(0);
        await PortalLab.WaitUntilAsync(() => lab.Asterisk.Channels().Count == 0, "the call is over on the PBX");
        network.Start();

        var finish = await lab.FinishedAsync(callId);
        finish["STATUS_CODE"].Should().Be("200", "it was answered before the cut");
        var record = await lab.RecordAsync(callId);
        record.Reconstructed.Should().BeTrue();
        lab.Bitrix24.State.RequestsFor(callId, "telephony.externalCall.finish").Should().Be(1);
        (await lab.Server.Client.GetStringAsync("/metrics")).Should().Contain("switchboard_pbx_reconciled_calls_total{pbx=\"lab\"} 1");
    }

    [Fact]
    public async Task An_Asterisk_restart_mid_call_leaves_no_call_open_and_finishes_it_once()
    {
        await using var lab = await PbxLab.StartAsync(LongTalk);
        var callId = await lab.ClickAsync(2, "+14155551234");
        await lab.AnsweredAsync(callId);

        // `core stop now`: every channel dies with no event, every AMI socket closes.
        await lab.Asterisk.StopAsync();
        await lab.Asterisk.StartAsync();

        var finish = await lab.FinishedAsync(callId);
        finish["STATUS_CODE"].Should().Be("200");
        (await lab.RecordAsync(callId)).Reconstructed.Should().BeTrue();
        await PortalLab.WaitUntilAsync(() => lab.Connector.IsReady, "the connector is back");
        lab.Bitrix24.State.RequestsFor(callId, "telephony.externalCall.finish").Should().Be(1);
    }

    [Fact]
    public async Task A_click_while_the_PBX_is_down_rings_once_it_is_back_within_the_deadline()
    {
        await using var lab = await PbxLab.StartAsync();
        await lab.Asterisk.StopAsync();
        await PortalLab.WaitUntilAsync(() => !lab.Connector.IsReady, "the connector saw the PBX go");

        var callId = await lab.ClickAsync(2, "+14155551234");
        await lab.Asterisk.StartAsync();

        var finish = await lab.FinishedAsync(callId);
        finish["STATUS_CODE"].Should().Be("200");
        (await lab.RecordAsync(callId)).OriginateAttempts.Items.Should().ContainSingle();
    }

    [Fact]
    public async Task A_click_the_PBX_cannot_take_within_the_deadline_is_finished_as_not_placed_and_never_rings_late()
    {
        await using var lab = await PbxLab.StartAsync(settings: new Dictionary<string, string?> { ["Switchboard:Pbx:Asterisk:lab:OriginateDeadline"] = "00:00:02" });
        await lab.Asterisk.StopAsync();
        await PortalLab.WaitUntilAsync(() => !lab.Connector.IsReady, "the connector saw the PBX go");

        var callId = await lab.ClickAsync(2, "+14155551234");
        var finish = await lab.FinishedAsync(callId);
        await lab.Asterisk.StartAsync();
        await PortalLab.WaitUntilAsync(() => lab.Connector.IsReady, "the connector is back");

        finish["STATUS_CODE"].Should().Be("503");
        finish["FAILED_REASON"].Should().Contain("could not be reached");
        lab.Asterisk.Channels().Should().BeEmpty("a late click never rings");
        (await lab.RecordAsync(callId)).OriginateAttempts.Items.Should().BeEmpty();
    }

    private static string PbxCallIdOf(string callId) => Switchboard.Pbx.CallTracker.PbxCallIdFor(callId);
}
