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
    public void The_dedup_key_of_a_known_event_is_the_one_every_earlier_version_stored()
    {
        // Keys are stored (events.dedup_key, event_dedup): if the same event ever got another key, a
        // redelivery of an event journalled before an upgrade would be stored twice. The value was
        // computed by the build before the key's buffer was reused (8feecfb); Cyrillic in a value, an
        // empty value and a '+' are in the body.
        const string body =
            "event=ONVOXIMPLANTCALLEND&event_handler_id=1061" +
            "&data%5BCALL_ID%5D=externalCall.716fa1d2c568e4b2b11c2f2f0e8d2c56.1773130779&data%5BCALL_TYPE%5D=1" +
            "&data%5BPHONE_NUMBER%5D=%2B74951234567&data%5BPORTAL_NUMBER%5D=REST_APP%3A7&data%5BPORTAL_USER_ID%5D=1269" +
            "&data%5BCALL_DURATION%5D=42&data%5BCALL_START_DATE%5D=2026-03-11T17%3A28%3A46%2B03%3A00&data%5BCOST%5D=0.0000" +
            "&data%5BCOST_CURRENCY%5D=&data%5BCALL_FAILED_CODE%5D=603-S" +
            "&data%5BCALL_FAILED_REASON%5D=%D0%9E%D1%82%D0%BC%D0%B5%D0%BD%D0%B5%D0%BD+%D0%B2%D1%8B%D0%B7%D0%BE%D0%B2" +
            "&data%5BCRM_ACTIVITY_ID%5D=9001&ts=1773239326" +
            "&auth%5Bdomain%5D=acme.bitrix24.com&auth%5Bmember_id%5D=2b9a0e3c5d7f4a1b8c6d0e2f4a6b8c0d" +
            "&auth%5Bapplication_token%5D=51856fefc120afa4b628cc82d3935cce";

        KeyOf(body).Should().Be("0000000069b17c1e94082fceeff3b63b55b19e0d8108cce332ec6957b5e337b3");
    }

    [Fact]
    public void A_big_body_before_leaves_the_next_key_unchanged()
    {
        // The canonical form is built in a buffer reused by the thread: nothing of a larger earlier
        // event may reach the next one's hash (also after the buffer grown by it has been let go).
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

    private static string RedactedForm(string body)
    {
        var parsed = PhpFormParser.Parse(body);
        parsed.Success.Should().BeTrue(parsed.Detail);
        return System.Text.Encoding.UTF8.GetString(JournalBody.RedactForm(System.Text.Encoding.UTF8.GetBytes(body), parsed.Root!["auth"]).Span);
    }

    [Theory]
    [InlineData("auth%5Brefresh_tokn%5D")]
    [InlineData("auth%5BREFRESH_TOKEN%5D")]
    [InlineData("AUTH%5Brefresh_token%5D")]
    [InlineData("%61uth%5Brefresh_token2%5D")]
    [InlineData("auth%5Bextra%5D%5B0%5D")]
    [InlineData("auth%5B%5D")]
    public void Every_auth_field_but_the_plain_ones_is_removed_whatever_its_name(string name)
    {
        var portal = TestPortal.Create();
        var secret = "rt" + TestPortal.Hex(12);
        var body = Bitrix24Events.ExternalCallStart(portal) + $"&{name}={secret}";

        var stored = RedactedForm(body);

        stored.Should().NotContain(secret).And.NotContain(portal.ApplicationToken).And.NotContain(portal.AccessToken).And.NotContain(portal.RefreshToken);
        stored.Should().Contain("auth%5Bmember_id%5D=" + portal.MemberId).And.Contain("auth%5Bdomain%5D=" + portal.Domain)
            .And.Contain("auth%5Bclient_endpoint%5D=").And.Contain("auth%5Bscope%5D=").And.Contain("data%5BCALL_ID%5D=");
    }

    [Fact]
    public void A_value_equal_to_a_token_is_removed_wherever_it_is_and_a_short_one_is_not()
    {
        var portal = TestPortal.Create();
        var data = Bitrix24Events.ExternalCallStartData();
        data["COPY"] = portal.ApplicationToken;
        data["ENCODED"] = portal.AccessToken; // "at…": sent below with its "a" as %61
        data["ONE"] = "1";
        var auth = Bitrix24Events.Auth(portal);
        auth["flag"] = "1";
        var body = Bitrix24Events.Body("ONEXTERNALCALLSTART", data, auth)
            .Replace("data%5BENCODED%5D=" + portal.AccessToken, "data%5BENCODED%5D=%61" + portal.AccessToken[1..], StringComparison.Ordinal);

        var stored = RedactedForm(body);

        stored.Should().NotContain(portal.ApplicationToken).And.NotContain(portal.AccessToken[1..]).And.NotContain("COPY").And.NotContain("ENCODED");
        stored.Should().Contain("data%5BONE%5D=1", "values shorter than any token are not compared").And.NotContain("flag");
    }

    [Fact]
    public void A_value_with_an_auth_field_glued_on_is_removed()
    {
        var portal = TestPortal.Create();
        var secret = "rt" + TestPortal.Hex(12);
        var body = Bitrix24Events.ExternalCallStart(portal)
            .Replace("auth%5Bdomain%5D=" + portal.Domain, $"auth%5Bdomain%5D={portal.Domain}auth%5Brefresh_token%5D={secret}", StringComparison.Ordinal)
            + $"&data%5BNOTE%5D=hello+auth[access_token]={secret}x";

        var stored = RedactedForm(body);

        stored.Should().NotContain(secret).And.NotContain("NOTE").And.NotContain("auth%5Bdomain%5D");
        stored.Should().Contain("auth%5Bmember_id%5D=" + portal.MemberId);
    }

    [Fact]
    public void A_JSON_body_keeps_only_the_plain_auth_fields_and_no_copy_of_a_token()
    {
        var portal = TestPortal.Create();
        var secret = "rt" + TestPortal.Hex(12);
        var auth = Bitrix24Events.Auth(portal);
        auth["refresh_tokn"] = secret;
        auth["member_id"] = portal.MemberId;
        var json = System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["event"] = "ONVOXIMPLANTCALLSTART",
            ["data"] = new Dictionary<string, object?> { ["CALL_ID"] = "c1", ["LIST"] = new[] { portal.ApplicationToken, "kept" }, ["COPY"] = secret },
            ["auth"] = auth,
            ["Auth"] = new Dictionary<string, object?> { ["access_token"] = "x" + secret },
        });

        var stored = System.Text.Encoding.UTF8.GetString(JournalBody.RedactJson(System.Text.Encoding.UTF8.GetBytes(json)).Span);

        stored.Should().NotContain(secret).And.NotContain(portal.ApplicationToken).And.NotContain(portal.AccessToken).And.NotContain(portal.RefreshToken)
            .And.NotContain("\"Auth\"").And.NotContain("COPY");
        stored.Should().Contain(portal.MemberId).And.Contain(portal.Domain).And.Contain("\"kept\"").And.Contain("\"c1\"");
    }
}
