using Switchboard.Asterisk.Events;
using Switchboard.Asterisk.Tests.Support;
using Switchboard.Asterisk.Wire;

namespace Switchboard.Asterisk.Tests.Events;

public sealed class TranscriptEventTests
{
    private static readonly HashSet<string> Typed = new(StringComparer.OrdinalIgnoreCase)
    {
        "Newchannel", "Newexten", "Newstate", "Hangup", "VarSet", "MixMonitorStart", "MixMonitorStop", "DialBegin",
        "DialEnd", "BridgeEnter", "BridgeLeave", "OriginateResponse", "BlindTransfer", "AttendedTransfer", "Cdr",
        "CoreShowChannel", "FullyBooted", "Reload", "Shutdown",
    };

    public static TheoryData<string> TranscriptNames => [.. Transcript.Names];

    [Theory]
    [MemberData(nameof(TranscriptNames))]
    public async Task Every_event_the_library_has_a_type_for_reads_as_that_type(string name)
    {
        var events = await Transcript.Load(name).ReadEventsAsync();

        events.Should().NotBeEmpty();
        events.Where(e => Typed.Contains(e.Name)).Should().NotContain(e => e is UnknownAmiEvent);
        events.Where(e => !Typed.Contains(e.Name)).Should().OnlyContain(e => e is UnknownAmiEvent);
        events.OfType<ChannelEvent>().Should().OnlyContain(e => e.Snapshot.Linkedid.Length > 0);
    }

    [Fact]
    public async Task Click_to_call_answered_reads_as_Asterisk_told_it()
    {
        var events = await Transcript.Load("c2c-answered").ReadEventsAsync();

        var dials = events.OfType<DialBeginEvent>().ToList();
        dials.Should().HaveCount(2);
        dials[0].Caller.Should().BeNull("an Originate dials its first leg with no calling channel");
        dials[0].Destination.Channel.Should().Be("Local/101@phones-00000000;1");
        dials[0].Destination.Context.Should().Be("phones");
        dials[0].Destination.CallerIdName.Should().BeNull("<unknown> is no name");
        dials[0].Destination.AccountCode.Should().BeNull();
        dials[0].DialString.Should().Be("101@phones");
        dials[1].Caller!.Channel.Should().Be("Local/101@phones-00000000;1");
        dials[1].Destination.Channel.Should().StartWith("Local/+14155551234@pstn-");
        dials[1].Destination.Linkedid.Should().Be("1796643874.0");

        var originate = events.OfType<OriginateResponseEvent>().Single();
        originate.Success.Should().BeTrue();
        originate.Reason.Should().Be(4);
        originate.Message.ActionId.Should().Be("2");
        originate.Channel.Should().Be("Local/101@phones-00000000;1");
        originate.Exten.Should().Be("+14155551234");
        originate.Uniqueid.Should().Be("1796643874.0");

        var originateAt = events.ToList().IndexOf(originate);
        events.ToList().IndexOf(dials[1]).Should().BeGreaterThan(originateAt, "the customer is dialled after the user answered");

        events.OfType<DialEndEvent>().Select(e => e.DialStatus).Should().Equal("ANSWER", "ANSWER");
        events.OfType<HangupEvent>().Should().NotBeEmpty().And.OnlyContain(h => h.Cause == 16 && h.CauseText == "Normal Clearing");
        events.OfType<BridgeEnterEvent>().Should().HaveCount(2).And.OnlyContain(b => b.BridgeType == "basic");

        var recording = events.OfType<VarSetEvent>().Single(v => v.Variable == "MIXMONITOR_FILENAME");
        recording.Value.Should().Be("/var/spool/asterisk/monitor/out-1796643874.0.wav");
        recording.Snapshot.Uniqueid.Should().Be("1796643874.0");
        events.OfType<VarSetEvent>().Where(v => v.Variable == "SB_CALL_ID").Should().HaveCount(2)
            .And.OnlyContain(v => v.Value == "externalCall.89350264e026dace3f2b14d1f438257c.1773236989");
        events.OfType<VarSetEvent>().Should().Contain(v => v.Variable == "DIALSTATUS" && v.Value == string.Empty);
        events.OfType<MixMonitorStartEvent>().Should().ContainSingle();
        events.OfType<MixMonitorStopEvent>().Should().BeEmpty();

        var cdr = events.OfType<CdrEvent>().First();
        cdr.Disposition.Should().Be("ANSWERED");
        cdr.Duration.Should().Be(4);
        cdr.BillableSeconds.Should().Be(3);
        cdr.UniqueId.Should().Be("1796643875.3");
        cdr.DestinationChannel.Should().BeNull();
        cdr.UserField.Should().BeNull();

        var newexten = events.OfType<NewextenEvent>().First();
        newexten.Extension.Should().Be("101");
        newexten.Application.Should().Be("AppDial2");

        events.OfType<NewchannelEvent>().First().Snapshot.Should().Be(new ChannelSnapshot(
            "Local/101@phones-00000000;1", 0, "Down", null, null, null, null, null, "phones", "101", 1, "1796643874.0", "1796643874.0"));
        events.OfType<FullyBootedEvent>().Should().ContainSingle();
    }

    [Fact]
    public async Task Click_to_call_with_the_user_busy_fails_with_Reason_5()
    {
        var events = await Transcript.Load("c2c-user-busy").ReadEventsAsync();

        events.OfType<DialEndEvent>().Single().DialStatus.Should().Be("BUSY");
        var originate = events.OfType<OriginateResponseEvent>().Single();
        originate.Success.Should().BeFalse();
        originate.Reason.Should().Be(5);
        originate.Uniqueid.Should().BeNull("Asterisk sends <unknown> when no channel was made");
    }

    [Fact]
    public async Task A_ring_group_hangs_up_the_other_phone_with_cause_26()
    {
        var events = await Transcript.Load("inbound-ringgroup-answered").ReadEventsAsync();

        events.OfType<DialEndEvent>().Select(e => e.DialStatus).Should().Contain("ANSWER").And.Contain("CANCEL");
        events.OfType<HangupEvent>().Where(h => h.Snapshot.Channel.StartsWith("Local/104@", StringComparison.Ordinal))
            .Should().OnlyContain(h => h.Cause == 26 && h.CauseText == "Answered elsewhere");
        events.OfType<NewextenEvent>().Should().Contain(e => e.Snapshot.Context == "from-trunk" && e.Snapshot.Exten == "74951234567");
        events.OfType<ChannelEvent>().Select(e => e.Snapshot.Linkedid).Distinct().Should().ContainSingle();
    }

    [Fact]
    public async Task CoreShowChannels_items_carry_application_duration_and_bridge()
    {
        var events = await Transcript.Load("session-actions").ReadEventsAsync();

        var channels = events.OfType<CoreShowChannelEvent>().ToList();
        channels.Should().HaveCount(4);
        channels[0].Application.Should().Be("Wait");
        channels[0].ApplicationData.Should().Be("6");
        channels[0].Duration.Should().Be(TimeSpan.FromSeconds(2));
        channels[0].BridgeId.Should().BeNull();
        channels[1].BridgeId.Should().Be("cb98c9af-3b97-4a62-928d-8ca987007ddf");
        channels[1].Snapshot.IsUp.Should().BeTrue();
        channels.Should().OnlyContain(c => c.Message.ActionId == "6" && c.Snapshot.Linkedid == "1796644022.0");
        events.Where(e => e.Name == "Status").Should().HaveCount(4).And.OnlyContain(e => e is UnknownAmiEvent);
    }

    [Fact]
    public async Task Reload_and_a_global_VarSet_read_from_the_reload_transcript()
    {
        var events = await Transcript.Load("reload-and-shutdown").ReadEventsAsync();

        var reload = events.OfType<ReloadEvent>().Single();
        reload.Module.Should().Be("All");
        reload.Status.Should().Be("0");
        var global = events.OfType<VarSetEvent>().Single();
        global.Snapshot.Channel.Should().Be("none");
        global.Variable.Should().Be("RECDIR");
    }

    [Fact]
    public void Timestamp_reads_seconds_and_microseconds()
    {
        var message = Msg(("Event", "Newstate"), ("Timestamp", "1796644022.153691"), ("Channel", "PJSIP/1-1"), ("Uniqueid", "1.1"));

        var e = AmiEvent.From(message);

        e.Timestamp.Should().Be(DateTimeOffset.FromUnixTimeSeconds(1796644022).AddTicks(1_536_910));
        AmiEvent.From(Msg(("Event", "X"))).Timestamp.Should().BeNull();
        AmiEvent.From(Msg(("Event", "X"), ("Timestamp", "garbage"))).Timestamp.Should().BeNull();
    }

    [Fact]
    public void A_channel_event_without_Channel_or_Uniqueid_is_unknown_and_a_packet_without_Event_is_refused()
    {
        AmiEvent.From(Msg(("Event", "Hangup"), ("Cause", "16"))).Should().BeOfType<UnknownAmiEvent>();
        AmiEvent.From(Msg(("Event", "DialBegin"), ("Channel", "a"), ("Uniqueid", "1"))).Should().BeOfType<UnknownAmiEvent>();
        FluentActions.Invoking(() => AmiEvent.From(Msg(("Response", "Success")))).Should().Throw<ArgumentException>();
    }

    [Fact]
    public void Transfers_queue_events_and_Shutdown_read_their_prefixed_snapshots()
    {
        var blind = (BlindTransferEvent)AmiEvent.From(Msg(
            ("Event", "BlindTransfer"), ("Result", "Success"),
            ("TransfererChannel", "PJSIP/101-1"), ("TransfererUniqueid", "1.1"), ("TransfererLinkedid", "1.0"),
            ("TransfereeChannel", "PJSIP/trunk-2"), ("TransfereeUniqueid", "1.0"), ("TransfereeLinkedid", "1.0"),
            ("IsExternal", "No"), ("Context", "from-internal"), ("Extension", "102")));
        blind.Transferer!.Channel.Should().Be("PJSIP/101-1");
        blind.Transferee!.Uniqueid.Should().Be("1.0");
        blind.Extension.Should().Be("102");

        var attended = (AttendedTransferEvent)AmiEvent.From(Msg(
            ("Event", "AttendedTransfer"), ("Result", "Success"),
            ("OrigTransfererChannel", "PJSIP/101-1"), ("OrigTransfererUniqueid", "1.1"),
            ("SecondTransfererChannel", "PJSIP/101-3"), ("SecondTransfererUniqueid", "1.3"),
            ("DestType", "Bridge")));
        attended.OrigTransferer!.Channel.Should().Be("PJSIP/101-1");
        attended.SecondTransferer!.Uniqueid.Should().Be("1.3");
        attended.Transferee.Should().BeNull();
        attended.DestType.Should().Be("Bridge");

        var agent = (QueueEvent)AmiEvent.From(Msg(
            ("Event", "AgentConnect"), ("Channel", "PJSIP/trunk-2"), ("Uniqueid", "2.0"),
            ("DestChannel", "PJSIP/101-4"), ("DestUniqueid", "2.1"), ("Queue", "sales"), ("MemberName", "Anna"), ("Interface", "PJSIP/101")));
        agent.Caller!.Channel.Should().Be("PJSIP/trunk-2");
        agent.Member!.Channel.Should().Be("PJSIP/101-4");
        agent.Queue.Should().Be("sales");
        agent.Interface.Should().Be("PJSIP/101");

        var shutdown = (ShutdownEvent)AmiEvent.From(Msg(("Event", "Shutdown"), ("Shutdown", "Cleanly"), ("Restart", "True")));
        shutdown.Shutdown.Should().Be("Cleanly");
        shutdown.Restart.Should().BeTrue();
    }

    private static AmiMessage Msg(params (string Key, string Value)[] fields) =>
        new(fields.Select(f => new KeyValuePair<string, string>(f.Key, f.Value)));
}
