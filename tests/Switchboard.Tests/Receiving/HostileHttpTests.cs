using System.Diagnostics;
using System.Net;
using System.Text;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Switchboard.Receiving;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Receiving;

/// <summary>
/// Hostile HTTP against the real server on loopback, over raw TCP where no HttpClient would send the
/// request: every failure to read a body is a 4xx with problem details, never a 500 or an error line
/// with a stack trace; nothing from the body is echoed; refusals are logged counted, not one line each.
/// </summary>
public sealed class HostileHttpTests : IAsyncLifetime
{
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(1.5);
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(20);

    private SwitchboardServer _server = null!;

    private TestPortal Portal { get; } = TestPortal.Create();

    public async Task InitializeAsync()
    {
        _server = await SwitchboardServer.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Switchboard:Store:BusyTimeoutSeconds"] = "1",
            // Short on purpose, so a stalled body is answered within the test's patience.
            ["Switchboard:Receiving:MinBodyBytesPerSecond"] = "100",
            ["Switchboard:Receiving:BodyGracePeriod"] = "00:00:01.5",
            // Longer than any test: a summary is written only when a test asks for it (Flush).
            ["Switchboard:Receiving:RefusalLogInterval"] = "01:00:00",
        });
        var install = await _server.PostFormAsync(Bitrix24Events.Install(Portal));
        install.StatusCode.Should().Be(HttpStatusCode.OK, await install.Content.ReadAsStringAsync());
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private Task<long> CountAsync() => _server.Store.CountEventsAsync(default);

    private async Task<RawResponse> ExchangeAsync(params object[] writes)
    {
        await using var http = await RawHttp.ConnectAsync(_server.BaseAddress);
        foreach (var write in writes)
        {
            var sent = write is byte[] bytes ? await http.SendAsync(bytes) : await http.SendAsync((string)write);
            if (!sent)
            {
                break;
            }
        }

        return await http.ReadResponseAsync(AnswerTimeout);
    }

    private static void ShouldBeProblem(RawResponse response, int status)
    {
        response.Status.Should().Be(status, response.Raw);
        response.Headers["content-type"].Should().StartWith("application/problem+json");
        using var json = System.Text.Json.JsonDocument.Parse(response.Body);
        json.RootElement.GetProperty("status").GetInt32().Should().Be(status);
        json.RootElement.GetProperty("title").GetString().Should().NotBeNullOrWhiteSpace();
    }

    private void NoErrorWasLogged()
    {
        _server.Logs.Lines.Should().NotContain(l => l.StartsWith("Error", StringComparison.Ordinal) || l.StartsWith("Critical", StringComparison.Ordinal));
        _server.Logs.Lines.Should().NotContain(l => l.Contains("   at ", StringComparison.Ordinal), "no stack trace");
    }

    public static TheoryData<string, string> BrokenChunks => new()
    {
        { "a chunk size that is not hex", "zz\r\nevent=X\r\n0\r\n\r\n" },
        { "a chunk size that overflows", "FFFFFFFFFFFFFFFFFFFF\r\nevent=X\r\n0\r\n\r\n" },
        { "a negative chunk size", "-7\r\nevent=X\r\n0\r\n\r\n" },
        { "chunk data without its CRLF", "7\r\nevent=XYZW0\r\n\r\n" },
        { "a bad trailer", "7\r\nevent=X\r\n0\r\nnot a header line\r\n\r\n" },
    };

    [Theory]
    [MemberData(nameof(BrokenChunks))]
    public async Task Broken_chunked_framing_gets_400_with_problem_details_and_no_error_in_the_log(string _, string chunks)
    {
        var before = await CountAsync();
        var first = Bitrix24Events.ExternalCallStart(Portal);

        var response = await ExchangeAsync(RawHttp.Head("Transfer-Encoding: chunked") + $"{first.Length:x}\r\n{first}\r\n" + chunks);

        ShouldBeProblem(response, 400);
        response.Headers["connection"].Should().Be("close");
        (await CountAsync()).Should().Be(before);
        NoErrorWasLogged();
    }

    [Fact]
    public async Task A_body_that_stalls_gets_408_within_the_configured_grace()
    {
        var before = await CountAsync();
        await using var http = await RawHttp.ConnectAsync(_server.BaseAddress);
        await http.SendAsync(RawHttp.Head("Content-Length: 500") + "event=ONEX");
        var clock = Stopwatch.StartNew();

        var response = await http.ReadResponseAsync(AnswerTimeout);

        ShouldBeProblem(response, 408);
        // Kestrel checks the rate once a second (its heartbeat), so the answer comes at most a
        // heartbeat or two after the grace period.
        clock.Elapsed.Should().BeLessThan(Grace + TimeSpan.FromSeconds(3));
        response.Closed.Should().BeTrue();
        (await CountAsync()).Should().Be(before);
        NoErrorWasLogged();
    }

    [Fact]
    public async Task A_chunked_body_over_the_limit_in_one_write_gets_413_and_connection_close()
    {
        var before = await CountAsync();
        var body = Bitrix24Events.ExternalCallStart(Portal) + "&data%5BPAD%5D=" + new string('x', 1_200_000);
        var request = Encoding.ASCII.GetBytes(RawHttp.Head("Transfer-Encoding: chunked") + $"{body.Length:x}\r\n{body}\r\n0\r\n\r\n");

        var response = await ExchangeAsync(request);

        ShouldBeProblem(response, 413);
        response.Headers["connection"].Should().Be("close");
        (await CountAsync()).Should().Be(before);
        NoErrorWasLogged();
    }

    [Theory]
    [InlineData(200_000)] // over MaxBodyBytes, under Kestrel's MaxRequestBodySize
    [InlineData(2_000_000)]
    public async Task A_large_content_length_gets_413_with_connection_close_and_the_connection_ends(int contentLength)
    {
        // The whole body in the same write as the head, as a sender that does not wait for an answer.
        var response = await ExchangeAsync(RawHttp.Head($"Content-Length: {contentLength}") + "event=ONEXTERNALCALLSTART&data%5BPAD%5D=" + new string('x', contentLength - 40));

        ShouldBeProblem(response, 413);
        response.Headers["connection"].Should().Be("close");
        response.Closed.Should().BeTrue();
    }

    [Fact]
    public async Task A_field_name_with_a_token_glued_on_gets_400_and_the_token_is_neither_answered_nor_logged()
    {
        // Issue 18's body: the '=' after auth[application_token] was lost, so name and token are one name.
        const string Token = "51610fefc120afg4b628cc82d6298cce";
        const string Body = "event=X&auth%5Bapplication_token%5DM" + Token;

        var response = await ExchangeAsync(RawHttp.Head($"Content-Length: {Body.Length}") + Body);

        ShouldBeProblem(response, 400);
        response.Body.Should().Contain("auth[…]").And.NotContain("51610fef").And.NotContain("application_token");
        var logs = string.Join('\n', _server.Logs.Lines);
        logs.Should().Contain("auth[…]", "the refusal is logged, naming the field as auth[…]");
        logs.Should().NotContain("51610fef").And.NotContain("application_token]M");
    }

    [Fact]
    public async Task A_misspelled_or_glued_auth_field_and_a_copied_token_are_not_stored()
    {
        var callId = Bitrix24Events.NewCallId();
        var leaked = "rt" + TestPortal.Hex(12);
        var glued = "rt" + TestPortal.Hex(12);
        var data = Bitrix24Events.ExternalCallStartData(callId);
        data["COMMENT"] = Portal.ApplicationToken; // the portal's own token, copied into a data field
        var auth = Bitrix24Events.Auth(Portal);
        auth["refresh_tokn"] = leaked;
        var body = Bitrix24Events.Body("ONEXTERNALCALLSTART", data, auth);
        // Two pairs whose '&' was lost: auth[domain]'s value carries a second auth field and its token.
        body = body.Replace("auth%5Bdomain%5D=" + Portal.Domain, "auth%5Bdomain%5D=" + Portal.Domain + "auth%5Brefresh_token2%5D=" + glued, StringComparison.Ordinal);

        var response = await _server.PostFormAsync(body);

        response.StatusCode.Should().Be(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        using var receipt = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var stored = (await _server.Store.GetEventAsync(receipt.RootElement.GetProperty("id").GetInt64(), default))!;
        stored.Body.Should().NotContain(leaked).And.NotContain(glued).And.NotContain(Portal.ApplicationToken)
            .And.NotContain(Portal.AccessToken).And.NotContain(Portal.RefreshToken).And.NotContain("refresh_tokn");
        stored.Body.Should().Contain(Portal.MemberId).And.Contain(Uri.EscapeDataString(callId));
        var logs = string.Join('\n', _server.Logs.Lines);
        logs.Should().NotContain(leaked).And.NotContain(glued).And.NotContain(Portal.ApplicationToken);
    }

    [Fact]
    public async Task A_JSON_event_with_a_misspelled_auth_field_is_stored_without_its_token()
    {
        var callId = Bitrix24Events.NewCallId();
        var leaked = "rt" + TestPortal.Hex(12);
        var auth = Bitrix24Events.Auth(Portal);
        auth["Refresh_Token "] = leaked;
        var json = System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["event"] = "ONVOXIMPLANTCALLSTART",
            ["data"] = new Dictionary<string, object?> { ["CALL_ID"] = callId, ["USER_ID"] = "1269", ["NOTE"] = Portal.ApplicationToken },
            ["ts"] = "1773239326",
            ["auth"] = auth,
            ["AUTH"] = new Dictionary<string, object?> { ["access_token"] = "at" + leaked },
        });

        (await _server.PostJsonAsync(json)).StatusCode.Should().Be(HttpStatusCode.OK);

        var entry = (await _server.Store.ListEventsAsync(new Switchboard.Journal.JournalQuery(CallId: callId), default)).Single();
        entry.Body.Should().NotContain(leaked).And.NotContain(Portal.ApplicationToken).And.NotContain(Portal.AccessToken)
            .And.NotContain("AUTH").And.Contain(Portal.MemberId).And.Contain(callId);
    }

    [Fact]
    public async Task A_flood_of_refusals_is_logged_in_a_few_lines_and_counted_whole_in_metrics()
    {
        const int Each = 100;
        var wrongToken = Bitrix24Events.ExternalCallStart(Portal, applicationToken: TestPortal.Hex(16));
        for (var i = 0; i < Each; i++)
        {
            await _server.PostFormAsync("event=X&data%5BA%5D=%zz");
            await _server.PostFormAsync(wrongToken);
            await _server.PostFormAsync("x", "text/plain");
        }

        var refusalLines = _server.Logs.Lines.Where(l => l.Contains("[1003]", StringComparison.Ordinal) || l.Contains("[1004]", StringComparison.Ordinal)).ToList();
        refusalLines.Should().HaveCount(3, "the first refusal of each kind is logged in full, the rest are counted");

        _server.Services.GetRequiredService<RefusalLog>().Flush();

        var summary = _server.Logs.Lines.Where(l => l.Contains("[1007]", StringComparison.Ordinal)).Should().ContainSingle().Subject;
        summary.Should().Contain($"{(3 * Each) - 3} more deliveries refused").And.Contain("sample:");
        var metrics = await _server.Client.GetStringAsync("/metrics");
        metrics.Should().Contain($"switchboard_events_total{{outcome=\"bad_request\",event=\"none\"}} {Each}");
        metrics.Should().Contain($"switchboard_events_total{{outcome=\"unauthorized\",event=\"ONEXTERNALCALLSTART\"}} {Each}");
        metrics.Should().Contain($"switchboard_events_total{{outcome=\"unsupported_media_type\",event=\"none\"}} {Each}");
    }

    [Fact]
    public async Task While_the_journal_cannot_commit_503s_are_logged_as_one_error_and_a_count()
    {
        var path = Path.Combine(_server.DataDirectory!, "switchboard.db");
        await using (var blocker = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await blocker.OpenAsync();
            await using var begin = blocker.CreateCommand();
            begin.CommandText = "BEGIN EXCLUSIVE";
            await begin.ExecuteNonQueryAsync();

            for (var i = 0; i < 3; i++)
            {
                (await _server.PostFormAsync(Bitrix24Events.ExternalCallStart(Portal))).StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
            }
        }

        _server.Logs.Lines.Where(l => l.Contains("[1005]", StringComparison.Ordinal)).Should().ContainSingle();
        _server.Services.GetRequiredService<RefusalLog>().Flush();
        _server.Logs.Lines.Where(l => l.Contains("[1008]", StringComparison.Ordinal)).Should().ContainSingle()
            .Which.Should().StartWith("Error").And.Contain("2 more deliveries refused");
    }
}
