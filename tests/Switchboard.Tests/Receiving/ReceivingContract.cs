using System.Globalization;
using System.Net;
using System.Text;
using Switchboard.Journal;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Receiving;

/// <summary>
/// The front door over real HTTP, against both stores: RELIABILITY.md's Auth, Tenant, Install,
/// Input and Dedup rows, each proving its status and that nothing was stored.
/// </summary>
public abstract class ReceivingContract : IAsyncLifetime
{
    protected SwitchboardServer Server { get; private set; } = null!;

    protected TestPortal Portal { get; } = TestPortal.Create();

    protected abstract Task<SwitchboardServer> StartServerAsync(IReadOnlyDictionary<string, string?>? settings = null);

    public async Task InitializeAsync()
    {
        Server = await StartServerAsync();
        var install = await Server.PostFormAsync(Bitrix24Events.Install(Portal));
        install.StatusCode.Should().Be(HttpStatusCode.OK, await install.Content.ReadAsStringAsync());
    }

    public virtual async Task DisposeAsync() => await Server.DisposeAsync();

    protected Task<long> CountAsync() => Server.Store.CountEventsAsync(default);

    protected static async Task ShouldBeProblemAsync(HttpResponseMessage response, HttpStatusCode status, string? detailContains = null)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.Should().Be(status, text);
        response.Content.Headers.ContentType!.MediaType.Should().Be("application/problem+json");
        using var json = System.Text.Json.JsonDocument.Parse(text);
        json.RootElement.GetProperty("title").GetString().Should().NotBeNullOrWhiteSpace();
        json.RootElement.GetProperty("status").GetInt32().Should().Be((int)status);
        if (detailContains is not null)
        {
            json.RootElement.GetProperty("detail").GetString().Should().Contain(detailContains);
        }
    }

    // ---- Auth -----------------------------------------------------------------------------------

    public static TheoryData<string, string?, HttpStatusCode> Tokens => new()
    {
        { "missing", null, HttpStatusCode.Unauthorized },
        { "empty", "", HttpStatusCode.Unauthorized },
        { "wrong", "0123456789abcdef0123456789abcdef", HttpStatusCode.Unauthorized },
        { "too short", "51610fef", HttpStatusCode.Unauthorized },
        { "too long", new string('a', 500), HttpStatusCode.Unauthorized },
    };

    [Theory]
    [MemberData(nameof(Tokens))]
    public async Task An_event_without_the_portals_application_token_is_rejected_and_nothing_is_stored(string _, string? token, HttpStatusCode expected)
    {
        var before = await CountAsync();
        var auth = Bitrix24Events.Auth(Portal);
        if (token is null)
        {
            auth.Remove("application_token");
        }
        else
        {
            auth["application_token"] = token;
        }

        var response = await Server.PostFormAsync(Bitrix24Events.Body("ONEXTERNALCALLSTART", Bitrix24Events.ExternalCallStartData(), auth));

        await ShouldBeProblemAsync(response, expected);
        (await CountAsync()).Should().Be(before);
    }

    [Fact]
    public async Task An_event_with_the_correct_token_is_stored()
    {
        var before = await CountAsync();

        var response = await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal));

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        (await CountAsync()).Should().Be(before + 1);

        // The receipt: JSON with a Content-Length (not chunked), naming the journal row.
        response.Content.Headers.ContentType!.MediaType.Should().Be("application/json");
        response.Content.Headers.ContentLength.Should().BeGreaterThan(0);
        response.Headers.TransferEncodingChunked.Should().NotBe(true);
        using var receipt = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        receipt.RootElement.GetProperty("duplicate").GetBoolean().Should().BeFalse();
        (await Server.Store.GetEventAsync(receipt.RootElement.GetProperty("id").GetInt64(), default))!.EventName.Should().Be("ONEXTERNALCALLSTART");
    }

    // ---- Tenant ---------------------------------------------------------------------------------

    [Fact]
    public async Task Portal_As_token_on_an_event_naming_portal_B_is_rejected_and_nothing_is_stored()
    {
        var b = TestPortal.Create("beta.bitrix24.com");
        (await Server.PostFormAsync(Bitrix24Events.Install(b))).StatusCode.Should().Be(HttpStatusCode.OK);
        var before = await CountAsync();

        var response = await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(b, applicationToken: Portal.ApplicationToken));

        await ShouldBeProblemAsync(response, HttpStatusCode.Unauthorized);
        (await CountAsync()).Should().Be(before);
    }

    [Theory]
    [InlineData("0000000000000000000000000000beef")]
    [InlineData("")]
    [InlineData("not a member id\nwith a new line")]
    public async Task An_unknown_or_malformed_member_id_is_rejected_and_nothing_is_stored(string memberId)
    {
        var before = await CountAsync();

        var response = await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal, memberId: memberId));

        await ShouldBeProblemAsync(response, HttpStatusCode.Unauthorized);
        (await CountAsync()).Should().Be(before);
    }

    [Fact]
    public async Task Uninstall_is_verified_by_its_token_erases_the_tokens_and_later_events_are_rejected()
    {
        (await Server.Store.GetPortalTokensAsync(Portal.MemberId, default)).Should().NotBeNull();

        var bye = await Server.PostFormAsync(Bitrix24Events.Uninstall(Portal));

        bye.StatusCode.Should().Be(HttpStatusCode.OK);
        var portal = await Server.Store.FindPortalAsync(Portal.MemberId, default);
        portal!.State.Should().Be(PortalState.Uninstalled);
        (await Server.Store.GetPortalTokensAsync(Portal.MemberId, default)).Should().BeNull();
        var before = await CountAsync();
        var late = await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal));
        await ShouldBeProblemAsync(late, HttpStatusCode.Unauthorized, "uninstalled");
        (await CountAsync()).Should().Be(before);
    }

    [Fact]
    public async Task A_copy_of_the_uninstall_gets_200_as_a_duplicate_and_the_portal_stays_closed()
    {
        var bye = Bitrix24Events.Uninstall(Portal);
        (await Server.PostFormAsync(bye)).StatusCode.Should().Be(HttpStatusCode.OK);
        var before = await CountAsync();

        var again = await Server.PostFormAsync(bye);

        again.StatusCode.Should().Be(HttpStatusCode.OK);
        (await again.Content.ReadAsStringAsync()).Should().Contain("\"duplicate\":true");
        (await CountAsync()).Should().Be(before);
        await ShouldBeProblemAsync(await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal)), HttpStatusCode.Unauthorized, "uninstalled");
        await ShouldBeProblemAsync(await Server.PostFormAsync(Bitrix24Events.Uninstall(Portal, ts: 1_700_000_000, applicationToken: "forged-token")), HttpStatusCode.Unauthorized, "uninstalled");
        await ShouldBeProblemAsync(await Server.PostFormAsync(Bitrix24Events.Uninstall(Portal, ts: 1_700_000_000)), HttpStatusCode.Unauthorized, "uninstalled");
        (await CountAsync()).Should().Be(before, "with the old token, only a copy of the committed uninstall is answered 200, and nothing is stored");
    }

    [Fact]
    public async Task Fifty_identical_uninstalls_in_parallel_are_stored_once_and_all_get_200()
    {
        await FiftyCopiesAtOnceShouldAllGet200AndBeStoredOnceAsync(Bitrix24Events.Uninstall(Portal));

        (await Server.Store.FindPortalAsync(Portal.MemberId, default))!.State.Should().Be(PortalState.Uninstalled);
    }

    [Fact]
    public async Task A_forged_uninstall_is_rejected_and_the_portal_stays_installed()
    {
        var response = await Server.PostFormAsync(Bitrix24Events.Uninstall(Portal, applicationToken: "forged-token"));

        await ShouldBeProblemAsync(response, HttpStatusCode.Unauthorized);
        (await Server.Store.FindPortalAsync(Portal.MemberId, default))!.State.Should().Be(PortalState.Installed);
        (await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal))).StatusCode.Should().Be(HttpStatusCode.OK);
    }

    // A token change the portal confirms is in Portals/TokenChangeTests (it needs the portal emulator to
    // answer app.info); here, the refusal that needs no call to the portal at all.
    [Fact]
    public async Task A_token_changing_update_without_an_access_token_is_refused_and_the_old_token_keeps_working()
    {
        var newToken = TestPortal.Hex(16);
        var update = Bitrix24Events.Body(
            "ONAPPUPDATE",
            new() { ["VERSION"] = "2", ["PREVIOUS_VERSION"] = "1", ["LANGUAGE_ID"] = "en" },
            Bitrix24Events.Auth(Portal, withTokens: false, applicationToken: newToken));

        await ShouldBeProblemAsync(await Server.PostFormAsync(update), HttpStatusCode.Forbidden);

        (await Server.Store.FindPortalAsync(Portal.MemberId, default))!.Version.Should().NotBe("2");
        (await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal))).StatusCode.Should().Be(HttpStatusCode.OK);
        await ShouldBeProblemAsync(await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal, applicationToken: newToken)), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task An_update_with_the_same_token_keeps_the_portal_working()
    {
        (await Server.PostFormAsync(Bitrix24Events.Update(Portal, Portal.ApplicationToken))).StatusCode.Should().Be(HttpStatusCode.OK);

        (await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal))).StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_token_changing_update_from_another_domain_is_refused()
    {
        var impostor = Portal with { Domain = "evil.bitrix24.com" };

        var response = await Server.PostFormAsync(Bitrix24Events.Update(impostor, "attacker-token"));

        await ShouldBeProblemAsync(response, HttpStatusCode.Forbidden);
        (await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal))).StatusCode.Should().Be(HttpStatusCode.OK);
    }

    // ---- Install --------------------------------------------------------------------------------

    public static TheoryData<string, string, string> BadInstalls => new()
    {
        { "domain outside the default cloud zones", "portal.example.com", "https://portal.example.com/rest/" },
        { "look-alike domain", "acme.bitrix24.com.evil.io", "https://acme.bitrix24.com.evil.io/rest/" },
        { "bare zone", "bitrix24.com", "https://bitrix24.com/rest/" },
        { "plain http endpoint", "acme2.bitrix24.com", "http://acme2.bitrix24.com/rest/" },
        { "endpoint on another host", "acme2.bitrix24.com", "https://evil.example.com/rest/" },
        { "endpoint on the metadata address", "acme2.bitrix24.com", "https://169.254.169.254/rest/" },
        { "endpoint on localhost", "acme2.bitrix24.com", "https://localhost/rest/" },
        { "endpoint on another port", "acme2.bitrix24.com", "https://acme2.bitrix24.com:8443/rest/" },
        { "endpoint with user info", "acme2.bitrix24.com", "https://user@acme2.bitrix24.com/rest/" },
    };

    [Theory]
    [MemberData(nameof(BadInstalls))]
    public async Task An_install_outside_the_policy_is_refused_and_nothing_is_stored(string _, string domain, string clientEndpoint)
    {
        var portal = TestPortal.Create(domain);
        var auth = Bitrix24Events.Auth(portal);
        auth["client_endpoint"] = clientEndpoint;
        var before = await CountAsync();

        var response = await Server.PostFormAsync(Bitrix24Events.Body("ONAPPINSTALL", new() { ["VERSION"] = "1", ["INSTALLED"] = "Y" }, auth));

        await ShouldBeProblemAsync(response, HttpStatusCode.Forbidden);
        (await CountAsync()).Should().Be(before);
        (await Server.Store.FindPortalAsync(portal.MemberId, default)).Should().BeNull();
    }

    [Fact]
    public async Task An_install_within_the_policy_creates_the_portal_with_the_OAuth_servers_tokens()
    {
        var portal = await Server.Store.FindPortalAsync(Portal.MemberId, default);

        portal.Should().NotBeNull();
        portal!.Domain.Should().Be(Portal.Domain);
        portal.ClientEndpoint.Should().Be(Portal.ClientEndpoint);
        portal.State.Should().Be(PortalState.Installed);
        // The install's refresh token was exchanged to prove it (and is spent): the new pair is kept.
        var tokens = (await Server.Store.GetPortalTokensAsync(Portal.MemberId, default))!;
        tokens.RefreshToken.Should().NotBeNullOrEmpty().And.NotBe(Portal.RefreshToken);
        tokens.AccessToken.Should().NotBeNullOrEmpty().And.NotBe(Portal.AccessToken);
    }

    [Theory]
    [InlineData("300000000000")] // past year 9999 when added to now: threw, answered 500
    [InlineData("-5")]
    public async Task A_reinstall_with_an_absurd_expires_in_is_stored_with_an_unknown_expiry_never_a_5xx(string expiresIn)
    {
        // A reinstall with the portal's own application token keeps the tokens it brings.
        var portal = Portal;
        var auth = Bitrix24Events.Auth(portal);
        auth["expires_in"] = expiresIn;

        var response = await Server.PostFormAsync(Bitrix24Events.Body("ONAPPINSTALL",
            new() { ["VERSION"] = "1", ["ACTIVE"] = "Y", ["INSTALLED"] = "Y", ["LANGUAGE_ID"] = "en" }, auth));

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        (await Server.Store.GetPortalTokensAsync(portal.MemberId, default))!.ExpiresAt.Should().BeNull();
    }

    [Fact]
    public async Task An_explicit_allow_list_given_as_one_string_replaces_the_cloud_zones()
    {
        await using var strict = await StartServerAsync(new Dictionary<string, string?> { ["Switchboard:Install:AllowedDomains:0"] = "crm.example.org, *.acme.test" });
        var onPrem = TestPortal.Create("crm.example.org");
        var sub = TestPortal.Create("eu.acme.test");
        var cloud = TestPortal.Create("someone.bitrix24.com");

        (await strict.PostFormAsync(Bitrix24Events.Install(onPrem))).StatusCode.Should().Be(HttpStatusCode.OK);
        (await strict.PostFormAsync(Bitrix24Events.Install(sub))).StatusCode.Should().Be(HttpStatusCode.OK);
        await ShouldBeProblemAsync(await strict.PostFormAsync(Bitrix24Events.Install(cloud)), HttpStatusCode.Forbidden, "AllowedDomains");
    }

    // ---- Input ----------------------------------------------------------------------------------

    [Fact]
    public async Task A_body_over_the_limit_by_content_length_gets_413_and_nothing_is_stored()
    {
        var before = await CountAsync();
        var body = Bitrix24Events.ExternalCallStart(Portal) + "&data%5BPAD%5D=" + new string('x', 70_000);

        var response = await Server.PostFormAsync(body);

        await ShouldBeProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        (await CountAsync()).Should().Be(before);
    }

    [Fact]
    public async Task A_chunked_body_over_the_limit_gets_413_without_being_read_whole()
    {
        var before = await CountAsync();
        using var endless = new CountingStream(Encoding.ASCII.GetBytes(Bitrix24Events.ExternalCallStart(Portal) + "&data%5BPAD%5D="), (byte)'x', total: 200L * 1024 * 1024);
        var content = new StreamContent(endless);
        content.Headers.ContentType = new("application/x-www-form-urlencoded");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/bitrix24/events") { Content = content };
        request.Headers.TransferEncodingChunked = true;

        HttpResponseMessage? response = null;
        try
        {
            response = await Server.Client.SendAsync(request);
        }
        catch (HttpRequestException)
        {
            // Kestrel may close the connection while the client is still sending; the count below still holds.
        }

        if (response is not null)
        {
            await ShouldBeProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        }

        endless.BytesRead.Should().BeLessThan(8L * 1024 * 1024, "the server stops reading at the limit instead of buffering the whole body");
        (await CountAsync()).Should().Be(before);
    }

    public static TheoryData<string, string, string> MalformedBodies => new()
    {
        { "truncated escape at the end", "event=ONEXTERNALCALLSTART&data%5BCALL_ID%5D=abc%4", "%" },
        { "escape that is not hex", "event=ONEXTERNALCALLSTART&data%5BCALL_ID%5D=%zz", "%" },
        { "invalid UTF-8", "event=ONEXTERNALCALLSTART&data%5BTEXT%5D=%C3%28", "UTF-8" },
        { "unbalanced bracket", "event=ONEXTERNALCALLSTART&data%5BCALL_ID=1", "never closed" },
        { "text after a bracket", "event=ONEXTERNALCALLSTART&data%5BA%5Dx=1", "after" },
        { "nesting deeper than the bound", "event=X&data" + string.Concat(Enumerable.Repeat("%5Ba%5D", 12)) + "=1", "deeper" },
        { "duplicate key", "event=ONEXTERNALCALLSTART&event=ONAPPINSTALL", "more than once" },
        { "duplicate token", "event=X&auth%5Bapplication_token%5D=a&auth%5Bapplication_token%5D=b", "more than once" },
        { "value and group at once", "event=X&data=1&data%5BA%5D=2", "both" },
        { "too many keys", "event=X&" + string.Join("&", Enumerable.Range(0, 1001).Select(i => $"data%5B{i}%5D=1")), "more than 1000" },
        { "key too long", "event=X&data%5B" + new string('k', 300) + "%5D=1", "longer than" },
        { "value too long", "event=X&data%5BTEXT%5D=" + new string('v', 40_000), "longer than" },
        { "no event", "data%5BCALL_ID%5D=1&ts=1", "event" },
        { "event given as a group", "event%5Ba%5D=1", "event" },
        { "auth given as a value", "event=X&auth=token", "auth" },
        { "a newline in the event code", "event=ONEXTERNALCALLSTART%0Awarn%3A+forged+line", "printable ASCII" },
        { "a terminal escape in the event code", "event=X%1B%5B2J", "printable ASCII" },
        { "a space inside the event code", "event=ON+APPINSTALL", "printable ASCII" },
        { "a non-ASCII event code", "event=%D0%A1%D0%9E%D0%91%D0%AB%D0%A2%D0%98%D0%95", "printable ASCII" },
        { "NUL in a value", "event=ONEXTERNALCALLSTART&data%5BCALL_ID%5D=a%00b", "NUL" },
        { "NUL in a name", "event=X&data%5BA%00%5D=1", "NUL" },
        { "literal NUL byte", "event=X&data%5BA%5D=a\0b", "NUL" },
    };

    [Fact]
    public async Task A_form_body_with_raw_bytes_that_are_not_UTF8_gets_400_and_nothing_is_stored()
    {
        // A verified event whose CALL_ID value starts with a raw 0xC3 byte followed by "%A9": decoded, "é"
        // (valid); as bytes, not UTF-8, so not what http_build_query sends, and not text the journal
        // could store as it arrived.
        var before = await CountAsync();
        var text = Bitrix24Events.ExternalCallStart(Portal);
        var at = text.IndexOf("data%5BCALL_ID%5D=", StringComparison.Ordinal) + "data%5BCALL_ID%5D=".Length;
        var body = Encoding.ASCII.GetBytes(text[..at]).Concat(new byte[] { 0xC3 }).Concat(Encoding.ASCII.GetBytes("%A9" + text[at..])).ToArray();

        var response = await Server.PostFormBytesAsync(body);

        await ShouldBeProblemAsync(response, HttpStatusCode.BadRequest, "not valid UTF-8");
        (await CountAsync()).Should().Be(before);
    }

    [Theory]
    [MemberData(nameof(MalformedBodies))]
    public async Task A_malformed_form_body_gets_400_naming_the_problem_and_nothing_is_stored(string _, string body, string detail)
    {
        var before = await CountAsync();

        var response = await Server.PostFormAsync(body);

        await ShouldBeProblemAsync(response, HttpStatusCode.BadRequest, detail);
        (await CountAsync()).Should().Be(before);
    }

    public static TheoryData<string, string> MalformedJson => new()
    {
        { "array", "[1,2]" },
        { "string", "\"ONEXTERNALCALLSTART\"" },
        { "truncated", "{\"event\":\"X\"" },
        { "trailing text", "{\"event\":\"X\"} x" },
        { "event as an object", "{\"event\":{\"a\":1}}" },
        { "duplicate property", "{\"event\":\"X\",\"event\":\"Y\"}" },
        { "auth as a string", "{\"event\":\"X\",\"auth\":\"t\"}" },
        { "lone surrogate", "{\"event\":\"X\",\"data\":{\"T\":\"\\uD800\"}}" },
        { "duplicate null property", "{\"event\":\"ONAPPINSTALL\",\"x\":null,\"x\":null,\"auth\":{\"member_id\":\"m\"}}" },
        { "NUL in a value", "{\"event\":\"X\",\"data\":{\"T\":\"a\\u0000b\"}}" },
        { "too many empty members", "{\"event\":\"X\",\"data\":[" + string.Join(",", Enumerable.Repeat("{}", 1001)) + "]}" },
    };

    [Theory]
    [MemberData(nameof(MalformedJson))]
    public async Task A_JSON_body_of_the_wrong_shape_gets_400_and_nothing_is_stored(string _, string json)
    {
        var before = await CountAsync();

        var response = await Server.PostJsonAsync(json);

        await ShouldBeProblemAsync(response, HttpStatusCode.BadRequest);
        (await CountAsync()).Should().Be(before);
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("multipart/form-data; boundary=x")]
    [InlineData("application/xml")]
    [InlineData("application/x-www-form-urlencoded; charset=windows-1251")]
    public async Task A_content_type_other_than_form_or_JSON_gets_415_and_nothing_is_stored(string contentType)
    {
        var before = await CountAsync();

        var response = await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal), contentType);

        await ShouldBeProblemAsync(response, HttpStatusCode.UnsupportedMediaType);
        (await CountAsync()).Should().Be(before);
    }

    [Fact]
    public async Task A_body_without_a_content_type_gets_415()
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(Bitrix24Events.ExternalCallStart(Portal)));

        var response = await Server.Client.PostAsync("/bitrix24/events", content);

        await ShouldBeProblemAsync(response, HttpStatusCode.UnsupportedMediaType);
    }

    // ---- Dedup ----------------------------------------------------------------------------------

    [Fact]
    public async Task The_same_event_delivered_twice_is_stored_once_and_both_deliveries_get_200()
    {
        var body = Bitrix24Events.ExternalCallStart(Portal);
        var before = await CountAsync();

        var first = await Server.PostFormAsync(body);
        var second = await Server.PostFormAsync(body);

        first.StatusCode.Should().Be(HttpStatusCode.OK);
        second.StatusCode.Should().Be(HttpStatusCode.OK);
        (await second.Content.ReadAsStringAsync()).Should().Contain("\"duplicate\":true");
        (await CountAsync()).Should().Be(before + 1);
    }

    [Fact]
    public Task Fifty_identical_deliveries_in_parallel_are_stored_once_and_all_get_200() =>
        FiftyCopiesAtOnceShouldAllGet200AndBeStoredOnceAsync(Bitrix24Events.ExternalCallStart(Portal));

    private async Task FiftyCopiesAtOnceShouldAllGet200AndBeStoredOnceAsync(string body)
    {
        var before = await CountAsync();

        var responses = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => Server.PostFormAsync(body)));

        responses.Should().OnlyContain(r => r.StatusCode == HttpStatusCode.OK);
        (await CountAsync()).Should().Be(before + 1);
    }

    [Fact]
    public async Task A_redelivery_with_other_tokens_or_as_JSON_is_the_same_event()
    {
        var callId = Bitrix24Events.NewCallId();
        const long ts = 1_900_000_000;
        var before = await CountAsync();
        var data = Bitrix24Events.ExternalCallStartData(callId);
        var withoutUserTokens = Bitrix24Events.Auth(Portal, withTokens: false);
        var json = System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["event"] = "ONEXTERNALCALLSTART", ["event_handler_id"] = "2000", ["data"] = data, ["ts"] = ts, ["auth"] = Bitrix24Events.Auth(Portal),
        });

        (await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal, callId, ts))).StatusCode.Should().Be(HttpStatusCode.OK);
        (await Server.PostFormAsync(Bitrix24Events.Body("ONEXTERNALCALLSTART", data, withoutUserTokens, ts, handlerId: 99))).StatusCode.Should().Be(HttpStatusCode.OK);
        (await Server.PostJsonAsync(json)).StatusCode.Should().Be(HttpStatusCode.OK);

        (await CountAsync()).Should().Be(before + 1);
    }

    [Fact]
    public async Task Identical_event_data_from_two_portals_is_two_events()
    {
        var b = TestPortal.Create("beta.bitrix24.com");
        (await Server.PostFormAsync(Bitrix24Events.Install(b))).StatusCode.Should().Be(HttpStatusCode.OK);
        var callId = Bitrix24Events.NewCallId();
        var before = await CountAsync();

        (await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal, callId, 1_900_000_001))).StatusCode.Should().Be(HttpStatusCode.OK);
        (await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(b, callId, 1_900_000_001))).StatusCode.Should().Be(HttpStatusCode.OK);

        (await CountAsync()).Should().Be(before + 2);
    }

    // ---- What is kept ---------------------------------------------------------------------------

    [Fact]
    public async Task The_journal_keeps_the_body_without_tokens_but_with_member_id_and_domain()
    {
        var callId = Bitrix24Events.NewCallId();

        await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal, callId));

        var entry = (await Server.Store.ListEventsAsync(new JournalQuery(CallId: callId), default)).Single();
        entry.EventName.Should().Be("ONEXTERNALCALLSTART");
        entry.MemberId.Should().Be(Portal.MemberId);
        entry.HandlerId.Should().Be(1055);
        entry.SentAt.Should().NotBeNull();
        entry.Body.Should().NotContain(Portal.ApplicationToken).And.NotContain(Portal.AccessToken).And.NotContain(Portal.RefreshToken);
        entry.Body.Should().NotContain("access_token").And.NotContain("application_token");
        entry.Body.Should().Contain(Portal.MemberId).And.Contain(Portal.Domain).And.Contain(Uri.EscapeDataString(callId));
    }

    [Fact]
    public async Task A_JSON_event_is_journaled_without_tokens()
    {
        var callId = Bitrix24Events.NewCallId();
        var json = System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["event"] = "ONVOXIMPLANTCALLSTART", ["data"] = new Dictionary<string, object?> { ["CALL_ID"] = callId, ["USER_ID"] = "1269" },
            ["ts"] = "1773239326", ["auth"] = Bitrix24Events.Auth(Portal),
        });

        (await Server.PostJsonAsync(json)).StatusCode.Should().Be(HttpStatusCode.OK);

        var entry = (await Server.Store.ListEventsAsync(new JournalQuery(CallId: callId), default)).Single();
        entry.ContentType.Should().Be("application/json");
        entry.Body.Should().NotContain(Portal.ApplicationToken).And.NotContain(Portal.AccessToken).And.Contain(Portal.MemberId);
    }

    [Fact]
    public async Task Event_names_are_matched_in_any_case_and_kept_upper_case()
    {
        var callId = Bitrix24Events.NewCallId();
        var body = Bitrix24Events.Body("onVoxImplantCallEnd", new() { ["CALL_ID"] = callId, ["CALL_FAILED_CODE"] = "603-S" }, Bitrix24Events.Auth(Portal));

        (await Server.PostFormAsync(body)).StatusCode.Should().Be(HttpStatusCode.OK);

        (await Server.Store.ListEventsAsync(new JournalQuery(CallId: callId), default)).Single().EventName.Should().Be("ONVOXIMPLANTCALLEND");
    }

    [Fact]
    public async Task A_field_that_does_not_fit_its_type_is_kept_not_refused()
    {
        var data = Bitrix24Events.ExternalCallStartData();
        data["USER_ID"] = "not-a-number";

        var response = await Server.PostFormAsync(Bitrix24Events.Body("ONEXTERNALCALLSTART", data, Bitrix24Events.Auth(Portal)));

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        Server.Logs.Lines.Should().Contain(l => l.Contains("data[USER_ID]", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_unknown_event_is_kept_with_its_raw_fields()
    {
        var body = Bitrix24Events.Body("ONCRMDEALUPDATE", new() { ["FIELDS"] = new Dictionary<string, object?> { ["ID"] = "42" } }, Bitrix24Events.Auth(Portal));

        (await Server.PostFormAsync(body)).StatusCode.Should().Be(HttpStatusCode.OK);

        var entry = (await Server.Store.ListEventsAsync(new JournalQuery(EventName: "ONCRMDEALUPDATE"), default)).Single();
        entry.Body.Should().Contain("data%5BFIELDS%5D%5BID%5D=42");
    }

    // ---- Logs, metrics, health ------------------------------------------------------------------

    [Fact]
    public async Task No_token_and_no_raw_body_reaches_a_log_line()
    {
        var secretValue = "s3cr3t-" + TestPortal.Hex(8);
        var data = Bitrix24Events.ExternalCallStartData();
        data["PHONE_NUMBER"] = secretValue;
        await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal));
        await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal, applicationToken: "wrong-" + secretValue));
        await Server.PostFormAsync(Bitrix24Events.Body("ONEXTERNALCALLSTART", data, Bitrix24Events.Auth(Portal)) + "&data%5BX%5D=%zz");
        await Server.PostFormAsync(Bitrix24Events.Body("ONEXTERNALCALLSTART", data, Bitrix24Events.Auth(Portal)) + "&data%5BCALL_ID%5D=dup");
        await Server.PostFormAsync(Bitrix24Events.Uninstall(Portal));
        await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal));

        var logs = string.Join('\n', Server.Logs.Lines);
        logs.Should().NotBeEmpty();
        logs.Should().NotContain(Portal.ApplicationToken).And.NotContain(Portal.AccessToken).And.NotContain(Portal.RefreshToken);
        logs.Should().NotContain(secretValue, "neither rejected tokens nor field values are logged");
        logs.Should().NotContain("application_token=").And.NotContain("%5B");
    }

    [Fact]
    public async Task Text_from_an_unverified_body_cannot_forge_a_log_line()
    {
        await Server.PostFormAsync("event=ONEXTERNALCALLSTART%0Awarn%3A+forged-by-name");
        await Server.PostFormAsync("event=X&data%5BA%0Dforged-by-key%1B%5D=1&data%5BA%0Dforged-by-key%1B%5D=2");
        await Server.PostFormAsync("event=X&data%5BA%E2%80%A8forged-by-separator%5D=%zz");

        Server.Logs.Lines.Should().Contain(l => l.Contains("forged-by-key", StringComparison.Ordinal), "the refusal names the field");
        Server.Logs.Lines.Where(l => l.Contains("forged", StringComparison.Ordinal))
            .Should().OnlyContain(l => !l.Any(c => char.IsControl(c) || c == '\u2028'));
    }

    [Fact]
    public async Task Deliveries_are_counted_by_outcome_in_metrics()
    {
        await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal));
        await Server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal, applicationToken: "wrong"));
        await Server.PostFormAsync("event=X&data%5B=1");

        var metrics = await Server.Client.GetStringAsync("/metrics");

        metrics.Should().Contain("switchboard_events_total{outcome=\"stored\",event=\"ONEXTERNALCALLSTART\"} 1");
        metrics.Should().Contain("switchboard_events_total{outcome=\"unauthorized\",event=\"ONEXTERNALCALLSTART\"} 1");
        metrics.Should().Contain("switchboard_events_total{outcome=\"bad_request\",event=\"none\"} 1");
        metrics.Should().Contain("switchboard_journal_batch_size_count");
    }

    [Fact]
    public async Task Metrics_carry_the_runtimes_allocations_and_collections()
    {
        var metrics = await Server.Client.GetStringAsync("/metrics");

        long Value(string series) => long.Parse(metrics.Split('\n').Single(l => l.StartsWith(series + " ", StringComparison.Ordinal))[(series.Length + 1)..], CultureInfo.InvariantCulture);
        Value("process_allocated_bytes_total").Should().BePositive();
        Value("process_gc_heap_bytes").Should().BeGreaterThanOrEqualTo(0, "it is 0 until the first collection");
        metrics.Should().Contain("process_gc_collections_total{generation=\"0\"} ").And.Contain("process_gc_collections_total{generation=\"2\"} ")
            .And.Contain("process_gc_pause_seconds_total ").And.MatchRegex("process_gc_server [01]\n");
    }

    [Fact]
    public async Task Health_and_readiness_answer_when_the_store_is_writable()
    {
        (await Server.Client.GetAsync("/healthz")).StatusCode.Should().Be(HttpStatusCode.OK);
        var ready = await Server.Client.GetAsync("/readyz");

        ready.StatusCode.Should().Be(HttpStatusCode.OK);
        (await ready.Content.ReadAsStringAsync()).Should().Contain("ready");
    }

    [Fact]
    public async Task Unknown_paths_and_methods_get_problem_details_not_a_server_error()
    {
        var notFound = await Server.Client.GetAsync("/nope");
        var wrongMethod = await Server.Client.GetAsync("/bitrix24/events");

        notFound.StatusCode.Should().Be(HttpStatusCode.NotFound);
        wrongMethod.StatusCode.Should().Be(HttpStatusCode.MethodNotAllowed);
        wrongMethod.Content.Headers.ContentType!.MediaType.Should().Be("application/problem+json");
    }
}
