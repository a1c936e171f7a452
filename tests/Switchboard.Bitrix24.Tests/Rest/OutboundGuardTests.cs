using System.Collections.Concurrent;
using System.Net;
using Switchboard.Bitrix24.OAuth;
using Switchboard.Bitrix24.Rest;

namespace Switchboard.Bitrix24.Tests.Rest;

public sealed class OutboundGuardTests
{
    [Theory]
    [InlineData("169.254.169.254", false)]
    [InlineData("10.0.0.1", false)]
    [InlineData("172.16.5.5", false)]
    [InlineData("172.31.255.255", false)]
    [InlineData("192.168.1.1", false)]
    [InlineData("127.0.0.1", false)]
    [InlineData("0.0.0.0", false)]
    [InlineData("100.64.0.1", false)]
    [InlineData("100.100.100.200", false)]
    [InlineData("::1", false)]
    [InlineData("fe80::1", false)]
    [InlineData("fd00:ec2::254", false)]
    [InlineData("::ffff:10.0.0.1", false)]
    [InlineData("::ffff:169.254.169.254", false)]
    [InlineData("172.32.0.1", true)]
    [InlineData("100.128.0.1", true)]
    [InlineData("8.8.8.8", true)]
    [InlineData("2a00:1450:4001:80b::200e", true)]
    public void Only_public_addresses_are_allowed_by_default(string address, bool allowed) =>
        new OutboundGuard([]).IsAllowed(IPAddress.Parse(address)).Should().Be(allowed);

    [Fact]
    public void An_operator_allowed_range_opens_that_range_only()
    {
        var guard = new OutboundGuard(["10.20.0.0/16"]);

        guard.IsAllowed(IPAddress.Parse("10.20.3.4")).Should().BeTrue();
        guard.IsAllowed(IPAddress.Parse("10.21.0.1")).Should().BeFalse();
        guard.IsAllowed(IPAddress.Parse("169.254.169.254")).Should().BeFalse();
    }

    [Theory]
    [InlineData("https://169.254.169.254/rest/")]
    [InlineData("https://10.0.0.1/rest/")]
    [InlineData("https://localhost/rest/")]
    [InlineData("https://[fd00:ec2::254]/rest/")]
    public async Task A_portal_endpoint_on_a_refused_address_is_refused_before_any_connection(string endpoint)
    {
        var connects = new ConcurrentQueue<IPAddress[]>();
        var guard = new OutboundGuard([], (addresses, _, _) =>
        {
            connects.Enqueue(addresses);
            throw new InvalidOperationException("the guard let a refused address through to connect");
        });
        using var http = Bitrix24HttpClientFactory.CreateClient(guard);
        var store = new InMemoryPortalCredentials();
        store.Put(new PortalCredentials("m", new Uri(endpoint), "a", "r"));
        var client = new Bitrix24RestClient(http, store, new Bitrix24RestOptions { MaxAttempts = 3, BaseDelay = TimeSpan.FromMilliseconds(1) });

        var r = await client.CallAsync("m", "app.info");

        r.Error!.Kind.Should().Be(RestErrorKind.DestinationRefused);
        r.Attempts.Should().Be(1, "a refused destination is not retried");
        connects.Should().BeEmpty();
    }

    [Fact]
    public async Task Localhost_is_reachable_only_when_an_operator_allows_loopback()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/app.info", _ => FakeReply.Ok(true));
        var endpoint = new Uri($"http://localhost:{fake.Port}/rest/");
        using var refused = new RestHarness(fake, o => o.AllowedNetworks.Clear(), endpoint: endpoint);
        using var allowed = new RestHarness(fake, endpoint: new Uri($"http://127.0.0.1:{fake.Port}/rest/"));

        var no = await refused.Client.CallAsync(RestHarness.MemberId, "app.info");
        fake.Requests.Should().BeEmpty();
        var yes = await allowed.Client.CallAsync(RestHarness.MemberId, "app.info");

        no.Error!.Kind.Should().Be(RestErrorKind.DestinationRefused);
        no.Error.Description.Should().Contain("localhost");
        yes.IsSuccess.Should().BeTrue();
        fake.Requests.Should().HaveCount(1);
    }

    [Fact]
    public async Task An_http_endpoint_is_refused_unless_insecure_http_is_allowed()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        using var h = new RestHarness(fake, o => o.AllowInsecureHttp = false);

        var r = await h.Client.CallAsync(RestHarness.MemberId, "app.info");

        r.Error!.Kind.Should().Be(RestErrorKind.DestinationRefused);
        r.Error.Code.Should().Be("INSECURE_ENDPOINT");
        r.Attempts.Should().Be(0);
        fake.Requests.Should().BeEmpty();
    }

    [Fact]
    public async Task An_http_oauth_server_is_refused_and_no_secret_leaves_the_process()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/app.info", _ => FakeReply.Error(401, "expired_token"));
        // The portal is reachable (https is not possible on the loopback fake), the OAuth server is http.
        using var h = new RestHarness(fake);
        var options = h.Options;
        using var http = Bitrix24HttpClientFactory.CreateClient(options);
        var strict = new Bitrix24RestOptions
        {
            ClientId = options.ClientId, ClientSecret = options.ClientSecret, OAuthServer = new Uri("http://oauth.example/"),
            AllowInsecureHttp = false, MaxAttempts = 1,
        };
        var oauth = new OAuthTokenClient(http, strict, TimeProvider.System);

        var r = await oauth.RefreshAsync("refresh-1");

        r.Error!.Kind.Should().Be(RestErrorKind.DestinationRefused);
        r.Error.ToString().Should().NotContain(RestHarness.ClientSecret);
        fake.Requests.Should().BeEmpty();
    }
}
