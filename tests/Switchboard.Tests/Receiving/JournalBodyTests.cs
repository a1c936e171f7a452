using Switchboard.Bitrix24.Wire;
using Switchboard.Receiving;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Receiving;

public sealed class JournalBodyTests
{
    private static string KeyOf(string body)
    {
        var parsed = PhpFormParser.Parse(body);
        parsed.Success.Should().BeTrue(parsed.Detail);
        return JournalBody.DedupKey(ParsedEvents.Read(body), parsed.Root!);
    }

    [Fact]
    public void The_dedup_key_ignores_the_auth_block_and_the_field_order()
    {
        var portal = TestPortal.Create();
        var callId = Bitrix24Events.NewCallId();
        var ts = Bitrix24Events.NextTs();
        var data = Bitrix24Events.ExternalCallStartData(callId);
        var reordered = data.Reverse().ToDictionary(p => p.Key, p => p.Value);
        var withoutTokens = Bitrix24Events.Auth(portal, withTokens: false);

        var key = KeyOf(Bitrix24Events.Body("ONEXTERNALCALLSTART", data, Bitrix24Events.Auth(portal), ts));

        KeyOf(Bitrix24Events.Body("ONEXTERNALCALLSTART", reordered, withoutTokens, ts)).Should().Be(key);
        KeyOf(Bitrix24Events.Body("ONEXTERNALCALLSTART", Bitrix24Events.ExternalCallStartData(), Bitrix24Events.Auth(portal), ts))
            .Should().NotBe(key, "another CALL_ID is another event");
        KeyOf(Bitrix24Events.Body("ONEXTERNALCALLSTART", data, Bitrix24Events.Auth(portal), ts + 1))
            .Should().NotBe(key, "another ts is another delivery of a different event");
        key.Should().MatchRegex("^[0-9a-f]{64}$").And.StartWith(ts.ToString("x16", System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void A_big_body_before_leaves_the_next_key_unchanged()
    {
        // The canonical form is built in a buffer reused by the thread: nothing of a larger earlier
        // event may reach the next one's hash, and a buffer grown by a big body is let go.
        var portal = TestPortal.Create();
        var body = Bitrix24Events.ExternalCallStart(portal);
        var data = Bitrix24Events.ExternalCallStartData();
        data["COMMENT"] = new string('x', 20_000);
        var big = Bitrix24Events.Body("ONEXTERNALCALLSTART", data, Bitrix24Events.Auth(portal));

        string? fresh = null;
        var thread = new Thread(() => fresh = KeyOf(body));
        thread.Start();
        thread.Join();

        KeyOf(big);
        KeyOf(body).Should().Be(fresh);
        KeyOf(big);
        KeyOf(big);
        KeyOf(body).Should().Be(fresh);
    }

    [Fact]
    public void The_dedup_key_allocates_little_more_than_the_key_itself()
    {
        // It was computed in a new 1 KiB buffer per event, a tenth of all that receiving an event
        // allocated; now the thread's buffer is reused and only the 64-character key (152 bytes) and the
        // sorted field lists are new.
        var portal = TestPortal.Create();
        var body = Bitrix24Events.CallEnd(portal, Bitrix24Events.NewCallId());
        var parsed = PhpFormParser.Parse(body);
        var ev = ParsedEvents.Read(body);
        JournalBody.DedupKey(ev, parsed.Root!);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            JournalBody.DedupKey(ev, parsed.Root!);
        }

        var perKey = (GC.GetAllocatedBytesForCurrentThread() - before) / 100;
        perKey.Should().BeLessThan(700, "the canonical form's buffer is the thread's, not the key's");
    }
}
