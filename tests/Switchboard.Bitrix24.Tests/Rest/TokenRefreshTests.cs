using System.Text.Json.Nodes;
using Switchboard.Bitrix24.Rest;

namespace Switchboard.Bitrix24.Tests.Rest;

public sealed class TokenRefreshTests
{
    [Fact]
    public async Task Twenty_concurrent_calls_meeting_expired_token_cause_one_refresh_and_use_the_new_pair_only_after_it_is_saved()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        RestHarness h = null!;
        var expiredAnswers = 0;
        var allExpired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var refreshes = 0;
        var usedBeforeSaved = 0;
        fake.On("/rest/telephony.externalCall.show", r =>
        {
            if (r.Auth == "access-1")
            {
                if (Interlocked.Increment(ref expiredAnswers) == 20)
                {
                    allExpired.SetResult();
                }

                return FakeReply.Error(401, "expired_token", "The access token provided has expired.");
            }

            if (r.Auth == "access-2" && h.Store.Current(RestHarness.MemberId)!.AccessToken != "access-2")
            {
                Interlocked.Increment(ref usedBeforeSaved);
            }

            return r.Auth == "access-2" ? FakeReply.Ok(true) : FakeReply.Error(401, "NO_AUTH_FOUND");
        });
        fake.OnAsync("/oauth/token/", async r =>
        {
            Interlocked.Increment(ref refreshes);
            // Hold the refresh until all twenty calls have met expired_token, so they really wait together.
            await allExpired.Task.WaitAsync(TimeSpan.FromSeconds(10));
            r.Query["grant_type"].ToString().Should().Be("refresh_token");
            r.Query["client_id"].ToString().Should().Be("app.switchboard.test");
            r.Query["client_secret"].ToString().Should().Be(RestHarness.ClientSecret);
            r.Query["refresh_token"].ToString().Should().Be("refresh-1");
            return new FakeReply(200, """
                {"access_token":"access-2","client_endpoint":"https://portal.example/rest/","domain":"oauth.bitrix.info",
                 "expires":1741341630,"expires_in":3600,"member_id":"member-1","refresh_token":"refresh-2","scope":"telephony,user",
                 "server_endpoint":"https://oauth.bitrix.info/rest/","status":"L","user_id":1}
                """);
        });
        h = new RestHarness(fake);
        using var _ = h;

        var calls = Enumerable.Range(0, 20).Select(i =>
            h.Client.CallAsync(RestHarness.MemberId, "telephony.externalCall.show", new JsonObject { ["CALL_ID"] = $"c{i}" }));
        var results = await Task.WhenAll(calls);

        results.Should().OnlyContain(r => r.IsSuccess);
        refreshes.Should().Be(1);
        h.Store.SaveCount.Should().Be(1);
        usedBeforeSaved.Should().Be(0, "the new pair is stored before any call uses it");
        h.Store.Current(RestHarness.MemberId)!.RefreshToken.Should().Be("refresh-2");
        fake.To("/rest/telephony.externalCall.show").Count(r => r.Auth == "access-2").Should().Be(20);
        h.Logs.All.Should().NotContain(RestHarness.ClientSecret).And.NotContain("access-").And.NotContain("refresh-");
    }

    [Fact]
    public async Task Invalid_grant_marks_the_portal_for_reauthorisation_and_stops_all_further_calls()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/app.info", _ => FakeReply.Error(401, "expired_token", "The access token provided has expired."));
        fake.On("/oauth/token/", _ => new FakeReply(400, """{"error":"invalid_grant","error_description":"Invalid grant"}"""));
        using var h = new RestHarness(fake);

        var first = await h.Client.CallAsync(RestHarness.MemberId, "app.info");
        var second = await h.Client.CallAsync(RestHarness.MemberId, "app.info");

        first.Error!.Kind.Should().Be(RestErrorKind.InvalidGrant);
        first.Error.ToString().Should().NotContain(RestHarness.ClientSecret).And.NotContain("refresh-1");
        h.Store.Current(RestHarness.MemberId)!.NeedsReauthorisation.Should().BeTrue();
        h.Store.Log.Should().Equal("reauth invalid_grant");
        second.Error!.Kind.Should().Be(RestErrorKind.NeedsReauthorisation);
        second.Attempts.Should().Be(0);
        fake.To("/rest/app.info").Should().HaveCount(1, "nothing is retried after invalid_grant");
        fake.To("/oauth/token/").Should().HaveCount(1);
        h.Logs.All.Should().NotContain(RestHarness.ClientSecret).And.Contain("re-authorisation");
    }

    [Fact]
    public async Task An_unreachable_oauth_server_is_a_transient_failure_retried_until_it_answers()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        var oauth = 0;
        fake.On("/rest/app.info", r => r.Auth == "access-2" ? FakeReply.Ok(true) : FakeReply.Error(401, "expired_token"));
        fake.On("/oauth/token/", _ => Interlocked.Increment(ref oauth) == 1
            ? FakeReply.Error(503, "temporarily_unavailable")
            : new FakeReply(200, """{"access_token":"access-2","refresh_token":"refresh-2"}"""));
        using var h = new RestHarness(fake);

        var r = await h.Client.CallAsync(RestHarness.MemberId, "app.info");

        r.IsSuccess.Should().BeTrue();
        oauth.Should().Be(2);
        h.Store.SaveCount.Should().Be(1);
    }
}
