using System.IO.Pipelines;
using System.Text;
using Switchboard.Asterisk.Events;
using Switchboard.Asterisk.Wire;
using Switchboard.Bitrix24.Events;
using Switchboard.Calls;
using Switchboard.Pbx;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Pbx;

/// <summary>The call tracker alone: Asterisk 22.10.1's recorded events in, ledger facts out.</summary>
public sealed class CallTrackerTests
{
    private const string Member = "m1";
    private const string RecordedCallId = "externalCall.89350264e026dace3f2b14d1f438257c.1773236989";
    private static readonly DateTimeOffset At = new(2026, 12, 8, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task The_answered_click_to_call_transcript_gives_answered_recording_and_a_200_hang_up_with_app_dial_s_talk_time()
    {
        var tracker = new CallTracker("lab", new AsteriskPbxOptions());
        tracker.Expect(Member, RecordedCallId, CallTracker.PbxCallIdFor(RecordedCallId), "2", "101", 2);

        var facts = await FeedAsync(tracker, "c2c-answered.ami");

        facts.Select(f => f.Input.GetType().Name).Should().Equal(nameof(RecordingStarted), nameof(PbxAnswered), nameof(PbxHungUp));
        facts.Should().OnlyContain(f => f.MemberId == Member && f.Input.CallId == RecordedCallId);
        facts.Select(f => f.Input).OfType<RecordingStarted>().Single().Path.Should().Be("/var/spool/asterisk/monitor/out-1796643874.0.wav");
        var answered = facts.Select(f => f.Input).OfType<PbxAnswered>().Single();
        answered.UserId.Should().Be(2);
        answered.Extension.Should().Be("101");
        var hungUp = facts.Select(f => f.Input).OfType<PbxHungUp>().Single();
        hungUp.Status.Should().Be(CallStatusCode.Success);
        hungUp.Duration.Should().Be(TimeSpan.FromMilliseconds(4025), "app_dial's ANSWEREDTIME_MS");
        hungUp.Reconstructed.Should().BeFalse();
        tracker.LiveCalls.Should().Be(0);
    }

    [Fact]
    public async Task The_busy_phone_transcript_gives_one_486_hang_up_naming_the_extension()
    {
        var tracker = new CallTracker("lab", new AsteriskPbxOptions());
        tracker.Expect(Member, RecordedCallId, CallTracker.PbxCallIdFor(RecordedCallId), "2", "102", 2);

        var facts = await FeedAsync(tracker, "c2c-user-busy.ami");

        var hungUp = facts.Should().ContainSingle().Which.Input.Should().BeOfType<PbxHungUp>().Subject;
        hungUp.Status.Should().Be(CallStatusCode.Busy);
        hungUp.Duration.Should().Be(TimeSpan.Zero);
        hungUp.Reason.Should().Contain("102").And.Contain("busy");
    }

    [Fact]
    public async Task A_transcript_replayed_twice_adds_no_fact_the_second_time()
    {
        var tracker = new CallTracker("lab", new AsteriskPbxOptions());
        tracker.Expect(Member, RecordedCallId, CallTracker.PbxCallIdFor(RecordedCallId), "2", "101", 2);
        await FeedAsync(tracker, "c2c-answered.ami");

        (await FeedAsync(tracker, "c2c-answered.ami")).Should().BeEmpty();
    }

    [Fact]
    public async Task Events_of_calls_nobody_expects_give_no_facts()
    {
        var tracker = new CallTracker("lab", new AsteriskPbxOptions());

        (await FeedAsync(tracker, "c2c-answered.ami")).Should().BeEmpty();
        (await FeedAsync(tracker, "inbound-ringgroup-answered.ami")).Should().BeEmpty();
    }

    [Fact]
    public void With_a_FreePBX_style_Local_channel_the_user_s_phone_is_not_taken_for_the_customer_and_a_busy_customer_is_486()
    {
        // Originate Local/101@from-internal: its ;2 half runs from-internal and dials the phone
        // (PJSIP/101); once that answers, ;1 runs the outbound dialplan and dials the customer.
        const string Id = "sb-c1";
        var tracker = new CallTracker("lab", new AsteriskPbxOptions());
        tracker.Expect(Member, "c1", Id, "a1", "101", 2);
        var local1 = Channel("Local/101@from-internal-00000001;1", Id, Id);
        var local2 = Channel("Local/101@from-internal-00000001;2", Id + ";2", Id);
        var phone = Channel("PJSIP/101-00000002", "1796643874.2", Id);
        var trunk = Channel("PJSIP/trunk-00000003", "1796643874.3", Id);
        var facts = new List<PbxFact>();
        foreach (var e in new[]
        {
            Event("Newchannel", local1), Event("Newchannel", local2),
            Event("DialBegin", Dest(local1)),
            Event("DialBegin", [.. local2, .. Dest(phone)]),
            Event("DialEnd", [.. local2, .. Dest(phone), new("DialStatus", "ANSWER")]),
            Event("DialEnd", [.. Dest(local1), new("DialStatus", "ANSWER")]),
            Event("OriginateResponse", [new("ActionID", "a1"), new("Response", "Success"), new("Channel", "Local/101@from-internal"), new("Reason", "4"), new("Uniqueid", Id)]),
            Event("DialBegin", [.. local1, .. Dest(trunk)]),
            Event("DialEnd", [.. local1, .. Dest(trunk), new("DialStatus", "BUSY")]),
            Event("Hangup", [.. trunk, new("Cause", "17")]),
            Event("Hangup", [.. phone, new("Cause", "16")]),
            Event("Hangup", [.. local2, new("Cause", "16")]),
            Event("Hangup", [.. local1, new("Cause", "17")]),
        })
        {
            facts.AddRange(tracker.Handle(e, At));
        }

        facts.Select(f => f.Input).Should().ContainSingle().Which.Should().BeOfType<PbxHungUp>().Which.Status.Should().Be(CallStatusCode.Busy);
    }

    [Fact]
    public void Reconciliation_leaves_alone_a_click_whose_Originate_certainly_never_left()
    {
        var tracker = new CallTracker("lab", new AsteriskPbxOptions());
        var record = new CallRecord
        {
            CallId = "c2", MemberId = Member, ClickToCall = true, Pbx = "lab", PbxCallId = "sb-c2",
            OriginateAttempts = new ValueSet<string>(["a"]), OriginatesNotSent = new ValueSet<string>(["a"]),
        };

        tracker.Reconcile(Member, [], [record], At, At).Should().BeEmpty("its retry places it");
        tracker.Reconcile(Member, [], [record with { OriginatesNotSent = ValueSet.Empty<string>() }], At, At)
            .Should().ContainSingle().Which.Input.Should().BeOfType<PbxHungUp>().Which.Reconstructed.Should().BeTrue();
    }

    private static List<KeyValuePair<string, string>> Channel(string name, string uniqueid, string linkedid) =>
    [
        new("Channel", name), new("ChannelState", "6"), new("ChannelStateDesc", "Up"), new("CallerIDNum", "101"),
        new("Context", "from-internal"), new("Exten", "s"), new("Priority", "1"), new("Uniqueid", uniqueid), new("Linkedid", linkedid),
    ];

    private static List<KeyValuePair<string, string>> Dest(List<KeyValuePair<string, string>> channel) =>
        [.. channel.Select(f => new KeyValuePair<string, string>("Dest" + f.Key, f.Value))];

    private static AmiEvent Event(string name, List<KeyValuePair<string, string>> fields) =>
        AmiEvent.From(new AmiMessage([new("Event", name), new("Privilege", "call,all"), .. fields]));

    private static async Task<List<PbxFact>> FeedAsync(CallTracker tracker, string transcript)
    {
        var facts = new List<PbxFact>();
        foreach (var message in await ReadAsync(transcript))
        {
            if (message.EventName is not null)
            {
                facts.AddRange(tracker.Handle(AmiEvent.From(message), At));
            }
        }

        return facts;
    }

    private static async Task<List<AmiMessage>> ReadAsync(string transcript)
    {
        var text = await File.ReadAllTextAsync(Path.Combine(TranscriptAsterisk.FixturesDirectory, transcript));
        var reader = new AmiFrameReader(PipeReader.Create(new MemoryStream(Encoding.UTF8.GetBytes(text))));
        await reader.ReadBannerAsync(default);
        var messages = new List<AmiMessage>();
        while (await reader.ReadMessageAsync(default) is { } m)
        {
            messages.Add(m);
        }

        return messages;
    }
}
