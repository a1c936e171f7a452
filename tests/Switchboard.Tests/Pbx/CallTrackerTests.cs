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
