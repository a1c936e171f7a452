using System.Globalization;
using Switchboard.Bitrix24.Events;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Pbx;

/// <summary>
/// A click in the portal emulator → Switchboard → an Originate to the Asterisk emulator over AMI → the
/// emulated phones and customers behave as set → the portal emulator shows the call finished once,
/// with the status, the talk time, the user and, for a talk, the recording.
/// </summary>
public sealed class ClickToCallEndToEndTests
{
    public static TheoryData<long, string, string, string, int> Outcomes => new()
    {
        // user (extension), number clicked, status, reason contains, duration in emulated seconds
        { 2, "+14155551234", "200", "", 3 },                 // 101 answers, the customer answers and talks 3 s
        { 3, "+14155551234", "486", "busy", 0 },             // 102 is busy
        { 4, "+14155551234", "603-S", "did not answer", 0 }, // 103 never answers within OriginateTimeout
        { 2, "+14155550486", "486", "busy", 0 },             // the customer's line is busy
        { 2, "+14155550480", "480", "did not answer", 0 },   // the customer does not answer
    };

    [Theory]
    [MemberData(nameof(Outcomes))]
    public async Task A_click_ends_in_Bitrix24_once_with_the_true_status_duration_and_user(long user, string number, string status, string reason, int seconds)
    {
        // The dialplan gives up on a customer who does not answer after 3 s, while the user (101, who talks
        // 6 s) still listens: otherwise the user hangs up first, which is a cancel, not a no-answer.
        await using var lab = await PbxLab.StartAsync(o => o.OutboundDialTimeout = 3, new Dictionary<string, string?>
        {
            // 103 never answers: a short ring keeps the test short (Asterisk's Originate Timeout is in real time).
            ["Switchboard:Pbx:Asterisk:lab:OriginateTimeout"] = "00:00:02",
        });

        var callId = await lab.ClickAsync(user, number);
        var finish = await lab.FinishedAsync(callId);

        finish["STATUS_CODE"].Should().Be(status, finish.GetValueOrDefault("FAILED_REASON"));
        finish["USER_ID"].Should().Be(user.ToString(CultureInfo.InvariantCulture));
        finish["DURATION"].Should().Be(seconds.ToString(CultureInfo.InvariantCulture));
        if (reason.Length > 0)
        {
            finish["FAILED_REASON"].Should().ContainEquivalentOf(reason);
        }

        var record = await lab.RecordAsync(callId);
        record.Reconstructed.Should().BeFalse();
        if (status == "200")
        {
            await PortalLab.WaitUntilAsync(() => lab.Bitrix24.State.Recordings.Any(r => r.CallId == callId), "the recording is attached");
            var recording = lab.Bitrix24.State.Recordings.Single(r => r.CallId == callId);
            recording.FileName.Should().EndWith(".wav");
            recording.Size.Should().BeGreaterThan(44, "a WAV with audio, not just its header");
            record.LastAnswer!.UserId.Should().Be(user);
        }
        else
        {
            lab.Bitrix24.State.Recordings.Should().NotContain(r => r.CallId == callId);
        }

        // Whatever came after, one finish reached Bitrix24 and the PBX is idle.
        await PortalLab.WaitUntilAsync(() => lab.Asterisk.Channels().Count == 0, "the PBX has no channel left");
        lab.Bitrix24.State.RequestsFor(callId, "telephony.externalCall.finish").Should().Be(1);
    }

    [Fact]
    public async Task A_user_whose_extension_the_PBX_does_not_have_gets_the_call_finished_with_a_reason_naming_it()
    {
        await using var lab = await PbxLab.StartAsync();

        var callId = await lab.ClickAsync(1, "+14155551234");
        var finish = await lab.FinishedAsync(callId);

        finish["STATUS_CODE"].Should().NotBe("200");
        finish["USER_ID"].Should().Be("1");
        finish["FAILED_REASON"].Should().Contain("100");
        lab.Bitrix24.State.RequestsFor(callId, "telephony.externalCall.finish").Should().Be(1);
    }

    [Fact]
    public async Task Without_a_PBX_for_the_portal_a_click_is_finished_at_once_saying_which_setting_is_missing()
    {
        await using var lab = await PortalLab.StartAsync();
        await PortalLab.WaitForSetupAsync(lab.Server, 1);

        var click = await lab.Emulator.SendClickToCallAsync(new Emulator.ClickToCall { UserId = 2 });
        await PortalLab.WaitUntilAsync(() => lab.Emulator.State.FindCall(click.CallId!)?.Finished == true, "the portal has the call finished");

        var finish = lab.Emulator.State.FindCall(click.CallId!)!.FinishParameters!;
        finish["STATUS_CODE"].Should().Be("503");
        finish["FAILED_REASON"].Should().Contain("Switchboard:Pbx:Asterisk");
    }

    [Fact]
    public async Task A_number_the_dialplan_has_no_route_for_is_finished_404_and_leaves_no_call_followed()
    {
        await using var lab = await PbxLab.StartAsync();

        // The lab's from-internal dials only _+X.: Asterisk answers "Extension does not exist." at once.
        var callId = await lab.ClickAsync(2, "1234");
        var finish = await lab.FinishedAsync(callId);

        finish["STATUS_CODE"].Should().Be("404");
        finish["FAILED_REASON"].Should().Contain("1234");
        lab.Connector.Status.LiveCalls.Should().Be(0);
        lab.Asterisk.Channels().Should().BeEmpty();
    }

    [Fact]
    public async Task A_user_without_an_internal_number_is_told_to_fill_it_in_and_nothing_rings()
    {
        await using var lab = await PbxLab.StartAsync();

        var callId = await lab.ClickAsync(6, "+14155551234");
        var finish = await lab.FinishedAsync(callId);

        finish["FAILED_REASON"].Should().Contain("internal phone number");
        lab.Asterisk.Channels().Should().BeEmpty();
        (await lab.RecordAsync(callId)).OriginateAttempts.Items.Should().BeEmpty();
    }

    [Fact]
    public async Task The_same_click_delivered_twice_and_a_second_click_within_five_seconds_ring_the_phone_once()
    {
        await using var lab = await PbxLab.StartAsync();

        var first = await lab.ClickAsync(2, "+14155551234");
        // Bitrix24 delivering the same click again, then the user clicking once more.
        var repeat = await lab.Bitrix24.SendEventAsync("ONEXTERNALCALLSTART", new Dictionary<string, string>
        {
            ["PHONE_NUMBER"] = "+14155551234", ["PHONE_NUMBER_INTERNATIONAL"] = "+14155551234", ["EXTENSION"] = "",
            ["USER_ID"] = "2", ["CALL_LIST_ID"] = "0", ["LINE_NUMBER"] = "", ["IS_MOBILE"] = "0", ["CALL_ID"] = first,
            ["CRM_ENTITY_TYPE"] = "CONTACT", ["CRM_ENTITY_ID"] = "797",
        }, userId: 2);
        repeat.Deliveries.Should().OnlyContain(d => d.Status == 200);
        var again = await lab.Bitrix24.SendClickToCallAsync(new Emulator.ClickToCall { UserId = 2, PhoneNumber = "+1 (415) 555-1234" });
        again.Deliveries.Single().Status.Should().Be(200);

        var firstFinish = await lab.FinishedAsync(first);
        var secondFinish = await lab.FinishedAsync(again.CallId!);

        firstFinish["STATUS_CODE"].Should().Be("200");
        secondFinish["STATUS_CODE"].Should().Be("603-S");
        secondFinish["FAILED_REASON"].Should().Contain("again");
        (await lab.RecordAsync(again.CallId!)).OriginateAttempts.Items.Should().BeEmpty("the second click never reached the PBX");
        (await lab.RecordAsync(first)).OriginateAttempts.Items.Should().ContainSingle("the first click rang once, its repeat not at all");
    }
}
