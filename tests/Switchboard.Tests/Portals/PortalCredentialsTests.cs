using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Switchboard.Bitrix24.OAuth;
using Switchboard.Bitrix24.Rest;
using Switchboard.Emulator;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Portals;

/// <summary>
/// The REST client on the server's own portal store, against the portal emulator over loopback: the
/// tokens an install delivered are the ones used, and a refreshed pair is stored before it is used.
/// </summary>
public sealed class PortalCredentialsTests : IAsyncLifetime
{
    private readonly ManualTime _portalClock = new(DateTimeOffset.UtcNow);
    private PortalEmulator _emulator = null!;
    private SwitchboardServer _server = null!;

    public async Task InitializeAsync()
    {
        _emulator = new PortalEmulator(new EmulatorOptions { Url = "http://127.0.0.1:0" }, _portalClock);
        await _emulator.StartAsync();
        // The emulator is the OAuth server the install is proven at; the outbox stays off, so the
        // tests' own REST client is the only one calling the portal.
        var settings = _emulator.SwitchboardSettings();
        settings["Switchboard:Install:AllowedDomains"] = "127.0.0.1";
        settings["Switchboard:Outbox:Enabled"] = "false";
        _server = await SwitchboardServer.StartAsync(settings: settings);
        var install = await _emulator.SendInstallAsync(new Uri(_server.BaseAddress, "/bitrix24/events"));
        install.Deliveries.Single().Status.Should().Be(200);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _emulator.DisposeAsync();
    }

    private (Bitrix24RestClient Client, IPortalCredentials Credentials, HttpClient Http) RestClient()
    {
        var options = new Bitrix24RestOptions
        {
            ClientId = "local.6650a8b0c1d2e3.12345678",
            ClientSecret = "emulatorSecretEmulatorSecretEmulatorSecret00",
            OAuthServer = _emulator.BaseAddress,
            AllowInsecureHttp = true,
        };
        options.AllowedNetworks.Add("127.0.0.0/8");
        var credentials = _server.Services.GetRequiredService<IPortalCredentials>();
        var http = Bitrix24HttpClientFactory.CreateClient(options);
        return (new Bitrix24RestClient(http, credentials, options), credentials, http);
    }

    private static string MemberId => new EmulatorOptions().MemberId;

    [Fact]
    public async Task The_install_tokens_are_used_and_an_expired_token_is_refreshed_and_stored_before_use()
    {
        var (client, credentials, http) = RestClient();
        using var _ = http;
        var before = await credentials.GetAsync(MemberId, default);
        before.Should().NotBeNull();
        before!.ClientEndpoint.Should().Be(_emulator.ClientEndpoint);

        (await client.CallAsync(MemberId, "app.info")).IsSuccess.Should().BeTrue();
        var refreshes = _emulator.State.RefreshCount; // the install's proof was one
        _portalClock.Advance(TimeSpan.FromHours(2));
        var afterExpiry = await client.CallAsync(MemberId, "app.info");

        afterExpiry.IsSuccess.Should().BeTrue(afterExpiry.Error?.ToString());
        _emulator.State.RefreshCount.Should().Be(refreshes + 1);
        var stored = await credentials.GetAsync(MemberId, default);
        stored!.RefreshToken.Should().NotBe(before.RefreshToken, "the rotated refresh token replaced the old one in the store");
        stored.AccessToken.Should().NotBe(before.AccessToken);
    }

    [Fact]
    public async Task Twenty_concurrent_calls_that_meet_an_expired_token_cause_one_refresh_at_the_emulator()
    {
        var (client, credentials, http) = RestClient();
        using var _ = http;
        (await client.CallAsync(MemberId, "app.info")).IsSuccess.Should().BeTrue();
        var refreshes = _emulator.State.RefreshCount; // the install's proof was one
        _portalClock.Advance(TimeSpan.FromHours(2)); // every access token the portal issued has expired

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => client.CallAsync(MemberId, "app.info")));

        results.Should().OnlyContain(r => r.IsSuccess);
        _emulator.State.RefreshCount.Should().Be(refreshes + 1, "one refresh per portal however many calls are waiting");
        _emulator.State.RequestLog.Count(r => r.Error == "expired_token").Should().BeInRange(1, 20);
        (await credentials.GetAsync(MemberId, default))!.RefreshToken.Should().NotBeNullOrEmpty();
    }

    [Fact]
    public async Task Invalid_grant_marks_the_portal_and_portals_list_says_so()
    {
        var (_, credentials, http) = RestClient();
        using var __ = http;

        await credentials.MarkNeedsReauthorisationAsync(MemberId, "invalid_grant", default);

        (await credentials.GetAsync(MemberId, default))!.NeedsReauthorisation.Should().BeTrue();
        var list = new StringWriter();
        await Switchboard.Cli.SwitchboardCli.RunAsync(["portals", "list", "--data", _server.DataDirectory!], list, new StringWriter());
        list.ToString().Should().Contain("needs re-authorisation");
    }

    [Fact]
    public async Task A_reinstall_clears_the_mark_and_an_uninstall_leaves_no_credentials()
    {
        var (_, credentials, http) = RestClient();
        using var __ = http;
        await credentials.MarkNeedsReauthorisationAsync(MemberId, "invalid_grant", default);
        _portalClock.Advance(TimeSpan.FromSeconds(5)); // a new install (a redelivery of the first would be deduplicated)

        (await _emulator.SendInstallAsync(new Uri(_server.BaseAddress, "/bitrix24/events"))).Deliveries.Single().Status.Should().Be(200);
        (await credentials.GetAsync(MemberId, default))!.NeedsReauthorisation.Should().BeFalse();

        var uninstall = _emulator.BuildEventBody("ONAPPUNINSTALL", new Dictionary<string, string> { ["CLEAN"] = "0", ["LANGUAGE_ID"] = "en" });
        (await _server.PostFormAsync(uninstall)).StatusCode.Should().Be(HttpStatusCode.OK);
        (await credentials.GetAsync(MemberId, default)).Should().BeNull();
    }

    [Fact]
    public async Task A_moved_portal_is_stored_with_its_new_endpoint_and_domain()
    {
        var (_, credentials, http) = RestClient();
        using var __ = http;

        await credentials.RecordEndpointChangeAsync(MemberId, new Uri("https://renamed.bitrix24.com/rest/"), default);

        (await credentials.GetAsync(MemberId, default))!.ClientEndpoint.Should().Be(new Uri("https://renamed.bitrix24.com/rest/"));
        (await _server.Store.FindPortalAsync(MemberId, default))!.Domain.Should().Be("renamed.bitrix24.com");
    }
}
