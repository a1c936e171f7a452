using System.Text.Json.Nodes;
using Switchboard.Bitrix24.Rest;

namespace Switchboard.Bitrix24.Tests.Rest;

public sealed class EnvelopeAndErrorTests
{
    [Fact]
    public async Task A_call_posts_json_with_auth_and_reads_result_total_next_and_every_time_field()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/user.get", _ => FakeReply.Ok(new JsonArray(new JsonObject { ["ID"] = "7" }),
            """
            "total":120,"next":50,"time":{"start":1741338030.123,"finish":1741338030.456,"duration":0.333,"processing":0.3,
            "date_start":"2026-03-07T10:20:30+03:00","date_finish":"2026-03-07T10:20:31+03:00","operating":12.5,"operating_reset_at":1741338630}
            """));
        using var h = new RestHarness(fake);

        var r = await h.Client.CallAsync(RestHarness.MemberId, "user.get", new JsonObject { ["FILTER"] = new JsonObject { ["ACTIVE"] = true } });

        r.IsSuccess.Should().BeTrue();
        r.Value!.Result[0].GetProperty("ID").GetString().Should().Be("7");
        r.Value.Total.Should().Be(120);
        r.Value.Next.Should().Be(50);
        var t = r.Value.Time!;
        t.Start.Should().Be(1741338030.123);
        t.Finish.Should().Be(1741338030.456);
        t.Duration.Should().Be(0.333);
        t.Processing.Should().Be(0.3);
        t.DateStart.Should().Be(new DateTimeOffset(2026, 3, 7, 10, 20, 30, TimeSpan.FromHours(3)));
        t.DateFinish.Should().Be(new DateTimeOffset(2026, 3, 7, 10, 20, 31, TimeSpan.FromHours(3)));
        t.Operating.Should().Be(12.5);
        t.OperatingResetAt.Should().Be(DateTimeOffset.FromUnixTimeSeconds(1741338630));

        var sent = fake.Requests.Single();
        sent.Verb.Should().Be("POST");
        sent.Headers.ContentType.ToString().Should().StartWith("application/json");
        sent.Headers.Accept.ToString().Should().Contain("application/json");
        sent.Headers.UserAgent.ToString().Should().Contain("Switchboard");
        sent.Auth.Should().Be("access-1");
        sent.Json!["FILTER"]!["ACTIVE"]!.GetValue<bool>().Should().BeTrue();
    }

    [Fact]
    public async Task Integer_time_fields_and_a_missing_time_block_both_parse()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        var n = 0;
        fake.On("/rest/app.info", _ => Interlocked.Increment(ref n) == 1
            ? FakeReply.Ok(new JsonObject { ["ID"] = 1 }, "\"time\":{\"start\":1741338030,\"processing\":0}")
            : FakeReply.Ok(true));
        using var h = new RestHarness(fake);

        var first = await h.Client.CallAsync(RestHarness.MemberId, "app.info");
        var second = await h.Client.CallAsync(RestHarness.MemberId, "app.info");

        first.Value!.Time!.Start.Should().Be(1741338030);
        first.Value.Time.Processing.Should().Be(0);
        first.Value.Time.Operating.Should().BeNull();
        second.Value!.Time.Should().BeNull();
        second.Value.Total.Should().BeNull();
    }

    [Theory]
    [InlineData(401, "NO_AUTH_FOUND", RestErrorKind.NoAuthFound)]
    [InlineData(400, "WRONG_AUTH_TYPE", RestErrorKind.WrongAuthType)]
    [InlineData(403, "ACCESS_DENIED", RestErrorKind.AccessDenied)]
    [InlineData(401, "METHOD_CONFIRM_WAITING", RestErrorKind.MethodConfirmWaiting)]
    [InlineData(401, "method_confirm_waiting", RestErrorKind.MethodConfirmWaiting)]
    [InlineData(400, "ERROR_CORE", RestErrorKind.ErrorCore)]
    [InlineData(503, "QUERY_LIMIT_EXCEEDED", RestErrorKind.QueryLimitExceeded)]
    [InlineData(429, "OPERATION_TIME_LIMIT", RestErrorKind.OperationTimeLimit)]
    [InlineData(500, "INTERNAL_SERVER_ERROR", RestErrorKind.ServerError)]
    [InlineData(400, "ERROR_ARGUMENT", RestErrorKind.Other)]
    public async Task Each_error_code_becomes_its_typed_kind_with_code_description_and_status(int status, string code, RestErrorKind kind)
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/telephony.externalCall.finish", _ => FakeReply.Error(status, code, "Call is not found (call should be registered prior to finishing)"));
        using var h = new RestHarness(fake, o => { o.MaxAttempts = 1; o.MaxOperatingPause = TimeSpan.Zero; });

        var r = await h.Client.CallAsync(RestHarness.MemberId, "telephony.externalCall.finish", new JsonObject { ["CALL_ID"] = "c1" });

        r.IsSuccess.Should().BeFalse();
        r.Error!.Kind.Should().Be(kind);
        r.Error.Code.Should().Be(code);
        r.Error.Description.Should().Be("Call is not found (call should be registered prior to finishing)");
        r.Error.HttpStatus.Should().Be(status);
        fake.Requests.Should().HaveCount(1);
    }

    [Fact]
    public async Task Expired_token_that_stays_expired_after_one_refresh_is_reported_as_expired_token()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/app.info", _ => FakeReply.Error(401, "expired_token", "The access token provided has expired."));
        fake.On("/oauth/token/", _ => new FakeReply(200, """{"access_token":"access-2","refresh_token":"refresh-2","expires":1741341630}"""));
        using var h = new RestHarness(fake);

        var r = await h.Client.CallAsync(RestHarness.MemberId, "app.info");

        r.Error!.Kind.Should().Be(RestErrorKind.ExpiredToken);
        r.Error.HttpStatus.Should().Be(401);
        fake.To("/oauth/token/").Should().HaveCount(1, "a token that expires again right away is not refreshed in a loop");
        fake.To("/rest/app.info").Select(x => x.Auth).Should().Equal("access-1", "access-2");
    }

    [Fact]
    public async Task A_2xx_answer_without_a_result_is_an_invalid_response_and_not_retried()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/app.info", _ => new FakeReply(200, "<html>maintenance</html>"));
        using var h = new RestHarness(fake);

        var r = await h.Client.CallAsync(RestHarness.MemberId, "app.info");

        r.Error!.Kind.Should().Be(RestErrorKind.InvalidResponse);
        r.Error.HttpStatus.Should().Be(200);
        fake.Requests.Should().HaveCount(1);
    }

    [Fact]
    public async Task An_unknown_portal_sends_nothing()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        using var h = new RestHarness(fake);

        var r = await h.Client.CallAsync("someone-else", "app.info");

        r.Error!.Kind.Should().Be(RestErrorKind.PortalUnknown);
        fake.Requests.Should().BeEmpty();
    }

    [Fact]
    public async Task Typed_result_deserialises_the_result_value()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/profile", _ => FakeReply.Ok(new JsonObject { ["ID"] = "1", ["ADMIN"] = true }));
        using var h = new RestHarness(fake);

        var r = await h.Client.CallAsync<Dictionary<string, System.Text.Json.JsonElement>>(RestHarness.MemberId, "profile");

        r.Value!["ADMIN"].GetBoolean().Should().BeTrue();
    }
}
