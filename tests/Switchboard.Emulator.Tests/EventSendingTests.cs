using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Switchboard.Bitrix24.Events;
using Switchboard.Bitrix24.Wire;
using Switchboard.Emulator.Tests.Support;

namespace Switchboard.Emulator.Tests;

public sealed class EventSendingTests
{
    private static Bitrix24Event Parse(Received received)
    {
        var form = PhpFormParser.Parse(received.Body);
        form.Success.Should().BeTrue(form.Detail);
        var read = Bitrix24EventReader.Read(form.Root!);
        read.Success.Should().BeTrue(read.Error);
        return read.Event!;
    }

    private static async Task BindAsync(Portal portal, Receiver receiver, string eventName) =>
        (await portal.CallAsync("event.bind", new { @event = eventName, handler = receiver.Url.ToString() })).Status.Should().Be(HttpStatusCode.OK);

    [Fact]
    public async Task A_click_to_call_registers_the_call_and_posts_ONEXTERNALCALLSTART_form_encoded_with_bracket_keys()
    {
        await using var portal = await Portal.StartAsync();
        await using var receiver = await Receiver.StartAsync();
        await BindAsync(portal, receiver, "ONEXTERNALCALLSTART");

        var sent = await portal.Emulator.SendClickToCallAsync(new ClickToCall { UserId = 2, PhoneNumber = "+14155551234", LineNumber = "100", CrmEntityType = "CONTACT", CrmEntityId = 797 });

        sent.Deliveries.Should().ContainSingle().Which.Status.Should().Be(200);
        receiver.Requests.Should().ContainSingle();
        var received = receiver.Requests.Single();
        received.ContentType.Should().Be("application/x-www-form-urlencoded");
        var raw = Encoding.UTF8.GetString(received.Body);
        raw.Should().StartWith("event=ONEXTERNALCALLSTART&event_handler_id=1055&data%5BPHONE_NUMBER%5D=%2B14155551234&");
        raw.Should().Contain("&auth%5Baccess_token%5D=").And.Contain("&auth%5Bapplication_token%5D=51610fefc120afg4b628cc82d6298cce");

        var ev = Parse(received).Should().BeOfType<ExternalCallStartEvent>().Subject;
        ev.CallId.Should().Be(sent.CallId);
        ev.HandlerId.Should().Be(1055);
        ev.UserId.Should().Be(2);
        ev.PhoneNumber.Should().Be("+14155551234");
        ev.LineNumber.Should().Be("100");
        ev.IsMobile.Should().BeFalse();
        ev.CrmEntityId.Should().Be(797);
        ev.Auth.MemberId.Should().Be(portal.Emulator.Options.MemberId);
        ev.Auth.ClientEndpoint.Should().Be(portal.Emulator.ClientEndpoint.ToString());
        ev.Auth.Domain.Should().Be(portal.Emulator.BaseAddress.Authority);
        ev.Auth.UserId.Should().Be(2);
        ev.Auth.HasAccessToken.Should().BeTrue();
        ev.Auth.RefreshToken.Should().NotBeNullOrEmpty();
        ev.Auth.ExpiresIn.Should().Be(TimeSpan.FromHours(1));

        // The event's token works against the portal, and the call it names can be finished.
        var finish = await portal.CallAsync("telephony.externalcall.finish", new { CALL_ID = ev.CallId, USER_ID = 2, DURATION = 5 }, token: ev.Auth.AccessToken);
        finish.Status.Should().Be(HttpStatusCode.OK);
        var call = portal.Emulator.State.FindCall(sent.CallId!)!;
        call.Origin.Should().Be("click-to-call");
        call.ExternalCallId.Should().BeEmpty();
    }

    [Fact]
    public async Task The_voximplant_events_carry_the_call_and_report_the_handler_status()
    {
        await using var portal = await Portal.StartAsync(o => o.EchoCallEvents = false);
        await using var receiver = await Receiver.StartAsync();
        foreach (var name in new[] { "ONVOXIMPLANTCALLINIT", "ONVOXIMPLANTCALLSTART", "ONVOXIMPLANTCALLEND" })
        {
            await BindAsync(portal, receiver, name);
        }

        var callId = (await portal.CallAsync("telephony.externalcall.register", new { USER_ID = 3, PHONE_NUMBER = "+4930123", TYPE = 2, LINE_NUMBER = "100" }))
            .Result.GetProperty("CALL_ID").GetString()!;
        await portal.CallAsync("telephony.externalcall.finish", new { CALL_ID = callId, USER_ID = 3, DURATION = 61, STATUS_CODE = "200" });

        (await portal.Emulator.SendCallInitAsync(callId)).Deliveries.Single().Status.Should().Be(200);
        (await portal.Emulator.SendCallStartAsync(callId)).Deliveries.Single().Status.Should().Be(200);
        receiver.AnswerStatus = 500;
        (await portal.Emulator.SendCallEndAsync(callId)).Deliveries.Single().Status.Should().Be(500);

        var events = receiver.Requests.Select(Parse).ToList();
        events[0].Should().BeOfType<VoximplantCallInitEvent>().Which.CallType.Should().Be(CallType.Incoming);
        events[1].Should().BeOfType<VoximplantCallStartEvent>().Which.UserId.Should().Be(3);
        var end = events[2].Should().BeOfType<VoximplantCallEndEvent>().Subject;
        end.CallId.Should().Be(callId);
        end.CallDuration.Should().Be(TimeSpan.FromSeconds(61));
        end.PortalNumber.Should().Be("100");
        end.CallStartDate.Should().NotBeNull();
        portal.Emulator.State.Deliveries.Select(d => d.Status).Should().Equal(200, 200, 500);
    }

    [Fact]
    public async Task Install_goes_to_the_given_url_and_uninstall_carries_no_tokens_and_removes_the_handlers()
    {
        await using var portal = await Portal.StartAsync();
        await using var receiver = await Receiver.StartAsync();

        var install = await portal.Emulator.SendInstallAsync(receiver.Url);
        install.Deliveries.Single().Status.Should().Be(200);
        var installed = Parse(receiver.Requests.Single()).Should().BeOfType<AppInstallEvent>().Subject;
        installed.Installed.Should().BeTrue();
        installed.Auth.ApplicationToken.Should().Be(portal.Emulator.Options.ApplicationToken);
        installed.Auth.RefreshToken.Should().NotBeNullOrEmpty();

        // The installer's tokens are real: they call REST and refresh.
        (await portal.CallAsync("app.info", token: installed.Auth.AccessToken)).Status.Should().Be(HttpStatusCode.OK);

        await BindAsync(portal, receiver, "ONAPPUNINSTALL");
        var uninstall = await portal.Emulator.SendAppUninstallAsync(clean: true);
        uninstall.Deliveries.Single().Status.Should().Be(200);
        var body = Encoding.UTF8.GetString(receiver.Requests.Last().Body);
        body.Should().NotContain("access_token").And.NotContain("refresh_token");
        var gone = Parse(receiver.Requests.Last()).Should().BeOfType<AppUninstallEvent>().Subject;
        gone.Clean.Should().BeTrue();
        gone.Auth.MemberId.Should().Be(portal.Emulator.Options.MemberId);
        portal.Emulator.State.Handlers.Should().BeEmpty();
    }

    [Fact]
    public async Task Update_sends_the_new_and_previous_version()
    {
        await using var portal = await Portal.StartAsync();
        await using var receiver = await Receiver.StartAsync();
        await BindAsync(portal, receiver, "ONAPPUPDATE");

        await portal.Emulator.SendAppUpdateAsync("2");

        var ev = Parse(receiver.Requests.Single()).Should().BeOfType<AppUpdateEvent>().Subject;
        ev.Version.Should().Be("2");
        ev.PreviousVersion.Should().Be("1");
        (await portal.CallAsync("app.info")).Result.GetProperty("VERSION").GetString().Should().Be("2");
    }

    [Fact]
    public async Task The_admin_endpoint_sends_a_click_to_call_and_answers_the_delivery_status()
    {
        await using var portal = await Portal.StartAsync();
        await using var receiver = await Receiver.StartAsync();
        await BindAsync(portal, receiver, "ONEXTERNALCALLSTART");
        receiver.AnswerStatus = 503;

        using var response = await portal.Http.PostAsJsonAsync("emulator/send/click-to-call", new { userId = 3, phoneNumber = "+4930555" });
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        doc.RootElement.GetProperty("deliveries")[0].GetProperty("status").GetInt32().Should().Be(503);
        var callId = doc.RootElement.GetProperty("callId").GetString();

        var ev = Parse(receiver.Requests.Single()).Should().BeOfType<ExternalCallStartEvent>().Subject;
        ev.CallId.Should().Be(callId);
        ev.UserId.Should().Be(3);
    }

    [Fact]
    public async Task An_unreachable_handler_is_reported_without_a_status()
    {
        await using var portal = await Portal.StartAsync();
        Uri dead;
        await using (var receiver = await Receiver.StartAsync())
        {
            dead = receiver.Url;
        }

        (await portal.CallAsync("event.bind", new { @event = "ONEXTERNALCALLSTART", handler = dead.ToString() })).Status.Should().Be(HttpStatusCode.OK);
        var sent = await portal.Emulator.SendClickToCallAsync(new ClickToCall());

        var delivery = sent.Deliveries.Single();
        delivery.Status.Should().BeNull();
        delivery.Error.Should().NotBeNullOrEmpty();
        delivery.Delivered.Should().BeFalse();
    }
}

public sealed class GenericEventTests
{
    [Fact]
    public async Task Register_and_finish_through_REST_are_echoed_as_voximplant_init_and_end_events_after_the_answer()
    {
        await using var portal = await Portal.StartAsync();
        await using var receiver = await Receiver.StartAsync();
        foreach (var name in new[] { "ONVOXIMPLANTCALLINIT", "ONVOXIMPLANTCALLEND" })
        {
            (await portal.CallAsync("event.bind", new { @event = name, handler = receiver.Url.ToString() })).Status.Should().Be(HttpStatusCode.OK);
        }

        var callId = (await portal.CallAsync("telephony.externalcall.register", new { USER_ID = 2, PHONE_NUMBER = "+4930123", TYPE = 2, EXTERNAL_CALL_ID = "pbx-9" }))
            .Result.GetProperty("CALL_ID").GetString()!;
        await receiver.WaitForAsync(1);
        await portal.CallAsync("telephony.externalcall.finish", new { CALL_ID = callId, USER_ID = 2, STATUS_CODE = "486" });
        await receiver.WaitForAsync(2);

        var events = receiver.Requests.Select(r => Bitrix24EventReader.Read(PhpFormParser.Parse(r.Body).Root!).Event!).ToList();
        events[0].Should().BeOfType<VoximplantCallInitEvent>().Which.CallId.Should().Be(callId);
        var end = events[1].Should().BeOfType<VoximplantCallEndEvent>().Subject;
        end.CallId.Should().Be(callId);
        end.Data.GetString("CALL_FAILED_CODE").Should().Be("486");
    }

    [Fact]
    public async Task Any_bound_event_can_be_sent_through_the_admin_endpoint_with_its_data()
    {
        await using var portal = await Portal.StartAsync();
        await using var receiver = await Receiver.StartAsync();
        (await portal.CallAsync("event.bind", new { @event = "ONEXTERNALCALLBACKSTART", handler = receiver.Url.ToString() })).Status.Should().Be(HttpStatusCode.OK);

        using var response = await portal.Http.PostAsJsonAsync("emulator/send/event", new
        {
            @event = "OnExternalCallBackStart",
            data = new Dictionary<string, string> { ["PHONE_NUMBER"] = "+4930777", ["TEXT"] = "Call the client", ["VOICE"] = "ruinternalfemale", ["CRM_ENTITY_TYPE"] = "LEAD", ["CRM_ENTITY_ID"] = "12", ["LINE_NUMBER"] = "100" },
            userId = 2,
        });

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        var form = PhpFormParser.Parse(receiver.Requests.Single().Body);
        var ev = Bitrix24EventReader.Read(form.Root!).Event.Should().BeOfType<ExternalCallBackStartEvent>().Subject;
        ev.PhoneNumber.Should().Be("+4930777");
        ev.Voice.Should().Be("ruinternalfemale");
        ev.Auth.UserId.Should().Be(2);
    }

    [Fact]
    public async Task The_console_description_names_the_endpoints_and_a_working_admin_token()
    {
        await using var portal = await Portal.StartAsync();
        var text = portal.Emulator.DescribeForConsole();

        text.Should().Contain(portal.Emulator.ClientEndpoint.ToString()).And.Contain(portal.Emulator.TokenEndpoint.ToString()).And.Contain(portal.Emulator.Options.ClientSecret);
        var token = text.Split('\n').Single(l => l.Contains("admin access_token", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[2];
        (await portal.CallAsync("app.info", token: token)).Status.Should().Be(HttpStatusCode.OK);
    }
}

public sealed class WireOrderTests
{
    // Key order of the literal ONEXTERNALCALLSTART example (shared seed 000, EN-docs on-external-call-start.md),
    // with the SDK fixture's expires and user_id in the places the brief lists them.
    private static readonly string[] SeedDataKeys = ["PHONE_NUMBER", "PHONE_NUMBER_INTERNATIONAL", "EXTENSION", "USER_ID", "CALL_LIST_ID", "LINE_NUMBER", "IS_MOBILE", "CALL_ID", "CRM_ENTITY_TYPE", "CRM_ENTITY_ID"];
    private static readonly string[] AuthKeys = ["access_token", "expires", "expires_in", "scope", "domain", "server_endpoint", "status", "client_endpoint", "member_id", "user_id", "refresh_token", "application_token"];

    [Fact]
    public async Task The_click_to_call_body_has_the_seed_example_keys_in_the_seed_order_and_every_value_is_a_string()
    {
        await using var portal = await Portal.StartAsync();
        await using var receiver = await Receiver.StartAsync();
        (await portal.CallAsync("event.bind", new { @event = "ONEXTERNALCALLSTART", handler = receiver.Url.ToString() })).Status.Should().Be(HttpStatusCode.OK);
        await portal.Emulator.SendClickToCallAsync(new ClickToCall());

        var root = PhpFormParser.Parse(receiver.Requests.Single().Body).Root!;
        root.Children.Select(c => c.Key).Should().Equal("event", "event_handler_id", "data", "ts", "auth");
        root["data"]!.Children.Select(c => c.Key).Should().Equal(SeedDataKeys);
        root["auth"]!.Children.Select(c => c.Key).Should().Equal(AuthKeys);
        root["data"]!.Children.Should().OnlyContain(c => c.Value.IsValue);
        root["auth"]!.Children.Should().OnlyContain(c => c.Value.IsValue);
        root.GetString("ts").Should().Be(portal.Time.GetUtcNow().ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture));
    }
}
