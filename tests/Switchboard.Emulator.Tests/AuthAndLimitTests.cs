using System.Net;
using System.Text.Json;
using Switchboard.Emulator.Tests.Support;

namespace Switchboard.Emulator.Tests;

public sealed class AuthAndLimitTests
{
    private static string TokenUrl(Portal portal, string refresh, string? secret = null) =>
        $"oauth/token/?grant_type=refresh_token&client_id={portal.Emulator.Options.ClientId}&client_secret={secret ?? portal.Emulator.Options.ClientSecret}&refresh_token={refresh}";

    [Fact]
    public async Task An_expired_access_token_answers_401_expired_token_and_an_unknown_one_NO_AUTH_FOUND()
    {
        await using var portal = await Portal.StartAsync(o => o.AccessTokenLifetime = TimeSpan.FromMinutes(5));
        (await portal.CallAsync("app.info")).Status.Should().Be(HttpStatusCode.OK);

        portal.Time.Advance(TimeSpan.FromMinutes(5));
        var expired = await portal.CallAsync("app.info");
        expired.Status.Should().Be(HttpStatusCode.Unauthorized);
        expired.Text.Should().Be("""{"error":"expired_token","error_description":"The access token provided has expired."}""");

        var unknown = await portal.CallAsync("app.info", token: "not-a-token");
        unknown.Status.Should().Be(HttpStatusCode.Unauthorized);
        unknown.Error.Should().Be("NO_AUTH_FOUND");
    }

    [Fact]
    public async Task Refresh_returns_the_documented_fields_and_rotates_so_the_old_refresh_token_gets_invalid_grant()
    {
        await using var portal = await Portal.StartAsync();
        var old = portal.Token;
        using var response = await portal.Http.GetAsync(TokenUrl(portal, old.RefreshToken));
        var reply = await Reply.ReadAsync(response);

        reply.Status.Should().Be(HttpStatusCode.OK);
        var json = reply.Json;
        foreach (var field in new[] { "access_token", "client_endpoint", "domain", "expires", "expires_in", "member_id", "refresh_token", "scope", "server_endpoint", "status", "user_id" })
        {
            json.TryGetProperty(field, out _).Should().BeTrue(field);
        }

        json.GetProperty("client_endpoint").GetString().Should().Be(portal.Emulator.ClientEndpoint.ToString());
        json.GetProperty("domain").GetString().Should().Be(portal.Emulator.BaseAddress.Authority);
        json.GetProperty("expires_in").GetInt32().Should().Be(3600);
        json.GetProperty("refresh_token").GetString().Should().NotBe(old.RefreshToken);
        portal.Emulator.State.RefreshCount.Should().Be(1);

        var fresh = json.GetProperty("access_token").GetString()!;
        (await portal.CallAsync("app.info", token: fresh)).Status.Should().Be(HttpStatusCode.OK);

        using var again = await portal.Http.GetAsync(TokenUrl(portal, old.RefreshToken));
        var spent = await Reply.ReadAsync(again);
        spent.Status.Should().Be(HttpStatusCode.BadRequest);
        spent.Error.Should().Be("invalid_grant");
        portal.Emulator.State.RefreshCount.Should().Be(1);
    }

    [Fact]
    public async Task A_wrong_client_secret_answers_invalid_client()
    {
        await using var portal = await Portal.StartAsync();
        using var response = await portal.Http.GetAsync(TokenUrl(portal, portal.Token.RefreshToken, secret: "wrong"));
        var reply = await Reply.ReadAsync(response);

        reply.Status.Should().Be(HttpStatusCode.Unauthorized);
        reply.Error.Should().Be("invalid_client");
    }

    [Fact]
    public async Task A_burst_of_60_calls_gets_503_QUERY_LIMIT_EXCEEDED_after_the_50th_and_the_bucket_drains_with_time()
    {
        await using var portal = await Portal.StartAsync();
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 60; i++)
        {
            statuses.Add((await portal.CallAsync("app.info")).Status);
        }

        statuses.Take(50).Should().AllBeEquivalentTo(HttpStatusCode.OK);
        statuses.Skip(50).Should().AllBeEquivalentTo(HttpStatusCode.ServiceUnavailable);
        (await portal.CallAsync("app.info")).Error.Should().Be("QUERY_LIMIT_EXCEEDED");

        // 2/s drain: one second frees two requests, not three.
        portal.Time.Advance(TimeSpan.FromSeconds(1));
        (await portal.CallAsync("app.info")).Status.Should().Be(HttpStatusCode.OK);
        (await portal.CallAsync("app.info")).Status.Should().Be(HttpStatusCode.OK);
        (await portal.CallAsync("app.info")).Status.Should().Be(HttpStatusCode.ServiceUnavailable);

        portal.Time.Advance(TimeSpan.FromSeconds(25));
        for (var i = 0; i < 50; i++)
        {
            (await portal.CallAsync("app.info")).Status.Should().Be(HttpStatusCode.OK);
        }
    }

    [Fact]
    public async Task The_configured_burst_is_honoured()
    {
        await using var portal = await Portal.StartAsync(o => { o.RateLimitBurst = 5; o.RateLimitDrainPerSecond = 1; });
        for (var i = 0; i < 5; i++)
        {
            (await portal.CallAsync("app.info")).Status.Should().Be(HttpStatusCode.OK);
        }

        (await portal.CallAsync("app.info")).Status.Should().Be(HttpStatusCode.ServiceUnavailable);
    }

    [Fact]
    public async Task A_method_over_its_operating_budget_answers_429_until_the_oldest_minute_expires_and_others_are_unaffected()
    {
        await using var portal = await Portal.StartAsync(o =>
        {
            o.OperatingLimit = TimeSpan.FromSeconds(5);
            o.OperatingCostPerCall = TimeSpan.FromSeconds(2);
        });

        var first = await portal.CallAsync("user.get");
        first.Json.GetProperty("time").GetProperty("operating").GetDouble().Should().Be(2);
        var resetAt = first.Json.GetProperty("time").GetProperty("operating_reset_at").GetInt64();
        resetAt.Should().Be(portal.Time.GetUtcNow().AddMinutes(10).ToUnixTimeSeconds());
        (await portal.CallAsync("user.get")).Status.Should().Be(HttpStatusCode.OK);
        (await portal.CallAsync("user.get")).Json.GetProperty("time").GetProperty("operating").GetDouble().Should().Be(6);

        var blocked = await portal.CallAsync("user.get");
        blocked.Status.Should().Be((HttpStatusCode)429);
        blocked.Error.Should().Be("OPERATION_TIME_LIMIT");
        (await portal.CallAsync("app.info")).Status.Should().Be(HttpStatusCode.OK);

        portal.Time.Advance(TimeSpan.FromMinutes(10));
        (await portal.CallAsync("user.get")).Status.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Injected_faults_fail_the_next_calls_then_the_portal_recovers()
    {
        await using var portal = await Portal.StartAsync();
        portal.Emulator.Faults.FailNext(2, FaultKind.InternalServerError);
        portal.Emulator.Faults.FailNext(1, FaultKind.QueryLimitExceeded);
        portal.Emulator.Faults.FailNext(1, FaultKind.DropConnection);

        (await portal.CallAsync("app.info")).Error.Should().Be("INTERNAL_SERVER_ERROR");
        (await portal.CallAsync("app.info")).Status.Should().Be(HttpStatusCode.InternalServerError);
        (await portal.CallAsync("app.info")).Error.Should().Be("QUERY_LIMIT_EXCEEDED");
        await FluentActions.Awaiting(() => portal.CallAsync("app.info")).Should().ThrowAsync<HttpRequestException>();
        (await portal.CallAsync("app.info")).Status.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_delay_fault_holds_the_answer_longer_than_a_short_client_timeout()
    {
        await using var portal = await Portal.StartAsync();
        portal.Emulator.Faults.Delay = TimeSpan.FromSeconds(5);
        portal.Emulator.Faults.FailNext(1, FaultKind.Delay);
        using var impatient = new HttpClient { BaseAddress = portal.Emulator.BaseAddress, Timeout = TimeSpan.FromMilliseconds(300) };

        await FluentActions.Awaiting(() => impatient.PostAsync("rest/app.info?auth=" + portal.Token.AccessToken, null)).Should().ThrowAsync<TaskCanceledException>();
        (await portal.CallAsync("app.info")).Status.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task An_outage_answers_503_to_everything_until_switched_off()
    {
        await using var portal = await Portal.StartAsync();
        portal.Emulator.Faults.Outage = true;
        (await portal.CallAsync("app.info")).Status.Should().Be(HttpStatusCode.ServiceUnavailable);
        using (var token = await portal.Http.GetAsync(TokenUrl(portal, portal.Token.RefreshToken)))
        {
            token.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        }

        portal.Emulator.Faults.Outage = false;
        (await portal.CallAsync("app.info")).Status.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task The_emulator_stops_and_starts_again_on_the_same_port_with_its_state()
    {
        await using var portal = await Portal.StartAsync();
        await portal.CallAsync("telephony.externalLine.add", new { NUMBER = "100" });
        var address = portal.Emulator.BaseAddress;

        await portal.Emulator.StopAsync();
        await FluentActions.Awaiting(() => portal.CallAsync("app.info")).Should().ThrowAsync<HttpRequestException>();

        await portal.Emulator.StartAsync();
        portal.Emulator.BaseAddress.Should().Be(address);
        (await portal.CallAsync("telephony.externalLine.get")).Result.GetArrayLength().Should().Be(1);
    }

    [Fact]
    public async Task The_state_endpoint_shows_lines_calls_and_the_request_log()
    {
        await using var portal = await Portal.StartAsync();
        await portal.CallAsync("telephony.externalLine.add", new { NUMBER = "100" });
        await portal.CallAsync("no.such.method");
        using var response = await portal.Http.GetAsync("emulator/state");
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = doc.RootElement;

        root.GetProperty("lines")[0].GetProperty("number").GetString().Should().Be("100");
        root.GetProperty("users").GetArrayLength().Should().Be(3);
        var log = root.GetProperty("requests");
        log[0].GetProperty("method").GetString().Should().Be("telephony.externalline.add");
        log[1].GetProperty("status").GetInt32().Should().Be(404);
        root.GetProperty("refresh_count").GetInt32().Should().Be(0);
    }
}

public sealed class HostingTests
{
    [Fact]
    public async Task A_multipart_rest_call_with_bracket_keys_reaches_the_method_and_dispose_twice_is_harmless()
    {
        var portal = await Portal.StartAsync();
        using var form = new MultipartFormDataContent
        {
            { new StringContent(portal.Token.AccessToken), "auth" },
            { new StringContent("101"), "FILTER[UF_PHONE_INNER]" },
        };
        using var response = await portal.Http.PostAsync("rest/user.get", form);
        var reply = await Reply.ReadAsync(response);

        reply.Status.Should().Be(HttpStatusCode.OK);
        reply.Json.GetProperty("total").GetInt32().Should().Be(1);
        reply.Result[0].GetProperty("ID").GetString().Should().Be("2");

        await portal.DisposeAsync();
        await portal.Emulator.DisposeAsync();
        await FluentActions.Awaiting(() => portal.Emulator.StartAsync()).Should().ThrowAsync<ObjectDisposedException>();
    }
}
