using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Switchboard.Journal;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Portals;

/// <summary>
/// A new application token for a portal that is installed here (ONAPPINSTALL or ONAPPUPDATE) takes
/// effect only once the OAuth server exchanges the event's refresh token for this portal. Without
/// that, anyone who knows a member_id and its domain could replace the portal's token: take over its
/// events, or lock it out (its own events then get 401 and are lost).
/// </summary>
public sealed class TokenChangeTests
{
    [Fact]
    public async Task A_forged_update_with_a_new_token_and_no_access_token_is_refused_and_the_portal_keeps_working()
    {
        await using var lab = await PortalLab.StartAsync();
        await PortalLab.WaitForSetupAsync(lab.Server, 1);
        var before = await PortalOf(lab);

        var response = await lab.Server.PostFormAsync(Forged(lab, "ONAPPUPDATE", "attacker-token", accessToken: null));

        response.StatusCode.Should().Be(HttpStatusCode.Forbidden);
        (await PortalOf(lab)).TokenHash.Should().Be(before.TokenHash);
        await ShouldStillReceiveAsync(lab);
        (await lab.Server.PostFormAsync(ClickWith(lab, "attacker-token"))).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task A_forged_reinstall_with_a_new_token_and_an_access_token_the_portal_refuses_is_refused()
    {
        await using var lab = await PortalLab.StartAsync();
        await PortalLab.WaitForSetupAsync(lab.Server, 1);
        var before = await PortalOf(lab);

        var response = await lab.Server.PostFormAsync(Forged(lab, "ONAPPINSTALL", "attacker-token", accessToken: "not-the-portals"));

        response.StatusCode.Should().Be(HttpStatusCode.Forbidden);
        var after = await PortalOf(lab);
        after.TokenHash.Should().Be(before.TokenHash);
        after.InstallRefused.Should().BeNull("a refused impostor must not lock the real portal out either");
        await ShouldStillReceiveAsync(lab);
    }

    [Fact]
    public async Task The_portals_own_update_with_a_new_token_is_confirmed_and_the_new_token_replaces_the_old()
    {
        await using var lab = await PortalLab.StartAsync();
        await PortalLab.WaitForSetupAsync(lab.Server, 1);
        var oldToken = lab.Emulator.Options.ApplicationToken;

        var update = await lab.Emulator.SendAppUpdateAsync("2", newApplicationToken: TestPortal.Hex(16));

        update.Deliveries.Should().NotBeEmpty().And.OnlyContain(d => d.Status == 200);
        await PortalLab.WaitForSetupAsync(lab.Server, 2); // the update dropped the handlers (REFERENCE §1.4); the install flow binds them again
        await ShouldStillReceiveAsync(lab);
        (await lab.Server.PostFormAsync(ClickWith(lab, oldToken))).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task A_token_change_the_portal_cannot_be_asked_about_is_answered_503_and_nothing_changes()
    {
        await using var lab = await PortalLab.StartAsync(settings: new Dictionary<string, string?> { ["Switchboard:Bitrix24:MaxAttempts"] = "1" });
        await PortalLab.WaitForSetupAsync(lab.Server, 1);
        var before = await PortalOf(lab);
        var events = await lab.Server.Store.CountEventsAsync(default);

        lab.Emulator.Faults.Outage = true;
        var response = await lab.Server.PostFormAsync(Forged(lab, "ONAPPUPDATE", TestPortal.Hex(16), accessToken: "at" + TestPortal.Hex(8)));
        lab.Emulator.Faults.Outage = false;

        response.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        response.Content.Headers.ContentType!.MediaType.Should().Be("application/problem+json");
        (await PortalOf(lab)).TokenHash.Should().Be(before.TokenHash);
        (await lab.Server.Store.CountEventsAsync(default)).Should().Be(events, "nothing is stored");
        await ShouldStillReceiveAsync(lab);
    }

    [Fact]
    public async Task A_flood_of_one_forged_token_costs_one_check_at_the_OAuth_server()
    {
        await using var lab = await PortalLab.StartAsync();
        await PortalLab.WaitForSetupAsync(lab.Server, 1);
        int Checks() => lab.Emulator.State.RequestLog.Count(r => r.Method == "oauth/token");
        var before = Checks();

        for (var i = 0; i < 20; i++)
        {
            // A new refresh token each time, the same forged application token.
            var response = await lab.Server.PostFormAsync(Forged(lab, "ONAPPUPDATE", "attacker-token", accessToken: "at" + TestPortal.Hex(8)));
            response.StatusCode.Should().Be(HttpStatusCode.Forbidden);
        }

        Checks().Should().Be(before + 1, "a refusal is remembered per portal and application token");
        await ShouldStillReceiveAsync(lab);
    }

    [Fact]
    public async Task A_reinstall_with_the_same_token_needs_no_confirmation()
    {
        await using var lab = await PortalLab.StartAsync();
        await PortalLab.WaitForSetupAsync(lab.Server, 1);
        lab.Emulator.Faults.Outage = true;

        var response = await lab.Server.PostFormAsync(Forged(lab, "ONAPPINSTALL", lab.Emulator.Options.ApplicationToken, accessToken: "at" + TestPortal.Hex(8)));

        lab.Emulator.Faults.Outage = false;
        response.StatusCode.Should().Be(HttpStatusCode.OK, "the application token itself proves the sender");
    }

    private static async Task<Portal> PortalOf(PortalLab lab) => (await lab.Server.Store.FindPortalAsync(lab.MemberId, default))!;

    private static async Task ShouldStillReceiveAsync(PortalLab lab)
    {
        var click = await lab.Emulator.SendClickToCallAsync(new Switchboard.Emulator.ClickToCall { UserId = 1 });
        click.Deliveries.Should().ContainSingle().Which.Status.Should().Be(200, "the portal's own events still get in");
    }

    private static Dictionary<string, object?> AuthOf(PortalLab lab, string applicationToken, string? accessToken)
    {
        var endpoint = lab.Emulator.ClientEndpoint.ToString();
        var auth = new Dictionary<string, object?>();
        if (accessToken is not null)
        {
            auth["access_token"] = accessToken;
            auth["expires_in"] = "3600";
            auth["refresh_token"] = "rt" + TestPortal.Hex(8);
        }

        auth["scope"] = "telephony,crm,user";
        auth["domain"] = lab.Emulator.ClientEndpoint.Authority;
        auth["server_endpoint"] = endpoint;
        auth["status"] = "L";
        auth["client_endpoint"] = endpoint;
        auth["member_id"] = lab.MemberId;
        auth["application_token"] = applicationToken;
        return auth;
    }

    private static string Forged(PortalLab lab, string eventName, string applicationToken, string? accessToken) => Bitrix24Events.Body(
        eventName,
        eventName == "ONAPPINSTALL"
            ? new() { ["VERSION"] = "1", ["ACTIVE"] = "Y", ["INSTALLED"] = "Y", ["LANGUAGE_ID"] = "en" }
            : new() { ["VERSION"] = "9", ["PREVIOUS_VERSION"] = "1", ["LANGUAGE_ID"] = "en" },
        AuthOf(lab, applicationToken, accessToken));

    private static string ClickWith(PortalLab lab, string applicationToken) => Bitrix24Events.Body(
        "ONEXTERNALCALLSTART", Bitrix24Events.ExternalCallStartData(), AuthOf(lab, applicationToken, accessToken: null));
}
