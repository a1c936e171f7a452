using Switchboard.AsteriskEmulator.Tests.Support;
using Xunit.Abstractions;

namespace Switchboard.AsteriskEmulator.Tests;

/// <summary>
/// Each scenario the lab recorded on a real Asterisk 22.10.1 is replayed against the emulator with the
/// same Originate, and the emulator's events are compared with the transcript: per channel, the same
/// events in the same order with the same key fields (Channel pattern, state, context, exten, priority,
/// caller ids, application, variables, dial status, cause, Linkedid sharing); the milestones a connector
/// relies on in the same global order; and the same Cdr records.
/// </summary>
public sealed class TranscriptScenarioTests(ITestOutputHelper output)
{
    [Fact]
    public Task Click_to_call_answered_matches_the_transcript() => CompareAsync("c2c-answered.ami",
        ("Channel", "Local/101@phones"), ("Context", "from-internal"), ("Exten", "+14155551234"), ("Priority", "1"),
        ("Async", "true"), ("Variable", "SB_CALL_ID=externalCall.89350264e026dace3f2b14d1f438257c.1773236989"));

    [Fact]
    public Task Click_to_call_to_a_busy_user_matches_the_transcript() => CompareAsync("c2c-user-busy.ami",
        ("Channel", "Local/102@phones"), ("Context", "from-internal"), ("Exten", "+14155551234"), ("Priority", "1"),
        ("Async", "true"), ("Variable", "SB_CALL_ID=externalCall.aaaa.1"));

    [Fact]
    public Task Desk_phone_outbound_call_matches_the_transcript() => CompareAsync("desk-outbound.ami",
        ("Channel", "Local/101@deskphone"), ("Context", "from-internal"), ("Exten", "+14155551234"), ("Priority", "1"),
        ("CallerID", "\"Anna\" <101>"), ("Async", "true"));

    [Fact]
    public Task Inbound_ring_group_answered_matches_the_transcript() => CompareAsync("inbound-ringgroup-answered.ami",
        ("Channel", "Local/+79161234567@callers"), ("Context", "from-trunk"), ("Exten", "74951234567"), ("Priority", "1"),
        ("CallerID", "+79161234567"), ("Async", "true"));

    [Fact]
    public Task Inbound_missed_call_matches_the_transcript() => CompareAsync("inbound-missed.ami",
        ("Channel", "Local/+79160000008@callers"), ("Context", "from-trunk"), ("Exten", "74951230000"), ("Priority", "1"),
        ("CallerID", "+79160000008"), ("Async", "true"));

    private async Task CompareAsync(string transcript, params (string Key, string Value)[] originate)
    {
        await using var emulator = await Emulators.StartAsync(output: output);
        await using var client = await RawAmiClient.LoginAsync(emulator.Port);
        var queued = await client.ActionAsync("Originate", originate);
        queued["Message"].Should().Be("Originate successfully queued");
        await client.WaitForCallsToEndAsync();

        var expected = Transcript.Load(transcript);
        var actual = client.Received.SkipWhile(m => m.Response is null || m["Message"] != "Originate successfully queued").Skip(1).ToList();
        var expectedLines = Transcript.Normalize(expected);
        var actualLines = Transcript.Normalize(actual);
        output.WriteLine("--- emulator ---\n" + string.Join('\n', actualLines));

        var expectedPer = Transcript.PerChannel(expectedLines);
        var actualPer = Transcript.PerChannel(actualLines);
        actualPer.Keys.Should().BeEquivalentTo(expectedPer.Keys, "the same channels appear");
        foreach (var (channel, lines) in expectedPer)
        {
            SameLines(channel, lines, actualPer[channel]);
        }

        Milestones(actualLines).Should().Equal(Milestones(expectedLines), "the milestones come in the transcript's order");
        Transcript.Cdrs(actual, actualLines).Should().Equal(Transcript.Cdrs(expected, expectedLines), "the Cdr records match");
    }

    private static void SameLines(string what, List<string> expected, List<string> actual)
    {
        for (var i = 0; i < Math.Max(expected.Count, actual.Count); i++)
        {
            var e = i < expected.Count ? expected[i] : "(nothing)";
            var a = i < actual.Count ? actual[i] : "(nothing)";
            if (e != a)
            {
                throw new Xunit.Sdk.XunitException($"{what}, event {i}:\n expected {e}\n actual   {a}");
            }
        }
    }

    /// <summary>The events a connector acts on, in global order: who answered, when Originate reported, bridging, hangups of the first channels.</summary>
    private static List<string> Milestones(IEnumerable<string> lines) =>
        [.. lines.Where(l => l.StartsWith("OriginateResponse", StringComparison.Ordinal)
                          || (l.StartsWith("DialEnd", StringComparison.Ordinal) && l.Contains("DialStatus=ANSWER", StringComparison.Ordinal))
                          || l.StartsWith("BridgeEnter", StringComparison.Ordinal)
                          || l.StartsWith("MixMonitorStart", StringComparison.Ordinal))
            .Select(l => l.Split(' ')[0] + " " + (Transcript.Field(l, "Channel") ?? "") + " " + (Transcript.Field(l, "DestChannel") ?? ""))];

}
