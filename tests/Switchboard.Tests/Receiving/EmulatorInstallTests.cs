using System.Net;
using Switchboard.Emulator;
using Switchboard.Journal;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Receiving;

/// <summary>The portal emulator's events, in its own wire format, are accepted by the real receiver.</summary>
public sealed class EmulatorInstallTests : IAsyncLifetime
{
    private readonly PortalEmulator _emulator = new(new EmulatorOptions { Url = "http://127.0.0.1:0" });

    public Task InitializeAsync() => _emulator.StartAsync();

    public async Task DisposeAsync() => await _emulator.DisposeAsync();

    // The emulator is the OAuth server the install is proven at.
    private Dictionary<string, string?> Lab(bool allowHttp)
    {
        var settings = _emulator.SwitchboardSettings();
        settings["Switchboard:Install:AllowedDomains"] = "127.0.0.1";
        settings["Switchboard:Install:AllowInsecureHttp"] = allowHttp ? "true" : "false";
        return settings;
    }

    [Fact]
    public async Task An_install_sent_by_the_emulator_creates_the_portal_and_its_events_are_verified()
    {
        await using var server = await SwitchboardServer.StartAsync(settings: Lab(allowHttp: true));

        var install = await _emulator.SendInstallAsync(new Uri(server.BaseAddress, "/bitrix24/events"));

        install.Deliveries.Should().ContainSingle().Which.Status.Should().Be(200, string.Join("\n", server.Logs.Lines));
        var portals = await server.Store.ListPortalsAsync(default);
        var portal = portals.Should().ContainSingle().Subject;
        portal.ClientEndpoint.Should().Be(_emulator.ClientEndpoint.ToString());
        portal.State.Should().Be(Switchboard.Journal.PortalState.Installed);
        (await server.Store.GetPortalTokensAsync(portal.MemberId, default))!.RefreshToken.Should().NotBeNullOrEmpty();

        var callStart = _emulator.BuildEventBody("ONVOXIMPLANTCALLSTART", new Dictionary<string, string> { ["CALL_ID"] = "externalCall.emulated.1", ["USER_ID"] = "1" });
        (await server.PostFormAsync(callStart)).StatusCode.Should().Be(HttpStatusCode.OK);
        (await server.Store.ListEventsAsync(new JournalQuery(CallId: "externalCall.emulated.1"), default)).Should().ContainSingle();
    }

    [Fact]
    public async Task Without_the_lab_switch_an_http_portal_is_refused()
    {
        await using var server = await SwitchboardServer.StartAsync(settings: Lab(allowHttp: false));

        var install = await _emulator.SendInstallAsync(new Uri(server.BaseAddress, "/bitrix24/events"));

        install.Deliveries.Should().ContainSingle().Which.Status.Should().Be(403);
        (await server.Store.ListPortalsAsync(default)).Should().BeEmpty();
    }
}
