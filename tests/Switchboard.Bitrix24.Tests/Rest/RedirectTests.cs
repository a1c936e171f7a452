using Switchboard.Bitrix24.Rest;

namespace Switchboard.Bitrix24.Tests.Rest;

public sealed class RedirectTests
{
    [Fact]
    public async Task A_302_from_a_renamed_portal_records_the_new_endpoint_and_repeats_the_post_there()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/old/rest/app.info", _ => FakeReply.Redirect($"http://127.0.0.1:{fake.Port}/rest/app.info"));
        fake.On("/rest/app.info", r => r.Verb == "POST" && r.Auth == "access-1" ? FakeReply.Ok(true) : FakeReply.Error(400, "BAD_REPEAT"));
        using var h = new RestHarness(fake, endpoint: new Uri(fake.BaseUri, "old/rest/"));

        var first = await h.Client.CallAsync(RestHarness.MemberId, "app.info");
        var second = await h.Client.CallAsync(RestHarness.MemberId, "app.info");

        first.IsSuccess.Should().BeTrue();
        second.IsSuccess.Should().BeTrue();
        h.Store.Current(RestHarness.MemberId)!.ClientEndpoint.Should().Be(new Uri(fake.BaseUri, "rest/"));
        h.Store.Log.Should().Equal($"endpoint {new Uri(fake.BaseUri, "rest/")}");
        fake.Requests.Select(r => r.Path).Should().Equal("/old/rest/app.info", "/rest/app.info", "/rest/app.info");
    }

    [Fact]
    public async Task A_second_redirect_in_one_call_is_a_failure_not_a_loop()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/a/rest/app.info", _ => FakeReply.Redirect($"http://127.0.0.1:{fake.Port}/b/rest/app.info"));
        fake.On("/b/rest/app.info", _ => FakeReply.Redirect($"http://127.0.0.1:{fake.Port}/a/rest/app.info"));
        using var h = new RestHarness(fake, endpoint: new Uri(fake.BaseUri, "a/rest/"));

        var r = await h.Client.CallAsync(RestHarness.MemberId, "app.info");

        r.Error!.Kind.Should().Be(RestErrorKind.InvalidResponse);
        r.Error.HttpStatus.Should().Be(302);
        fake.Requests.Should().HaveCount(2);
    }

    [Fact]
    public async Task A_redirect_to_a_private_address_is_refused_by_the_connect_guard_before_connecting()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/old/rest/app.info", _ => FakeReply.Redirect("http://10.0.0.1/rest/app.info"));
        using var h = new RestHarness(fake, endpoint: new Uri(fake.BaseUri, "old/rest/"));

        var r = await h.Client.CallAsync(RestHarness.MemberId, "app.info");

        r.Error!.Kind.Should().Be(RestErrorKind.DestinationRefused);
        r.Error.Description.Should().Contain("10.0.0.1");
        fake.Requests.Should().HaveCount(1);
        h.Store.Current(RestHarness.MemberId)!.ClientEndpoint.Should().Be(new Uri(fake.BaseUri, "old/rest/"), "a redirect that was never answered does not move the portal");
    }

    [Theory]
    [InlineData("https://old.bitrix24.com/rest/", "https://new.bitrix24.com/rest/app.info", "https://new.bitrix24.com/rest/")]
    [InlineData("https://old.bitrix24.com/rest/", "https://new.bitrix24.com/rest/app.info.json", "https://new.bitrix24.com/rest/")]
    [InlineData("https://old.bitrix24.com/rest/", "https://new.bitrix24.com/", "https://new.bitrix24.com/rest/")]
    public void The_new_endpoint_is_the_location_without_the_method(string old, string location, string expected) =>
        Bitrix24RestClient.NewEndpoint(new Uri(old), new Uri(location), "app.info").Should().Be(new Uri(expected));
}
