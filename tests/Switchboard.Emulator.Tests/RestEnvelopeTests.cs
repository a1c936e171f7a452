using System.Net;
using System.Text;
using Switchboard.Emulator.Tests.Support;

namespace Switchboard.Emulator.Tests;

public sealed class RestEnvelopeTests
{
    [Fact]
    public async Task App_info_answers_the_documented_fields_inside_result_with_a_time_block()
    {
        await using var portal = await Portal.StartAsync();
        var reply = await portal.CallAsync("app.info");

        reply.Status.Should().Be(HttpStatusCode.OK);
        reply.Result.GetProperty("STATUS").GetString().Should().Be("L");
        reply.Result.GetProperty("INSTALLED").GetBoolean().Should().BeTrue();
        var time = reply.Json.GetProperty("time");
        foreach (var field in new[] { "start", "finish", "duration", "processing", "date_start", "date_finish", "operating", "operating_reset_at" })
        {
            time.TryGetProperty(field, out _).Should().BeTrue(field);
        }
    }

    [Fact]
    public async Task An_unknown_method_answers_404_ERROR_METHOD_NOT_FOUND()
    {
        await using var portal = await Portal.StartAsync();
        var reply = await portal.CallAsync("crm.nothing.here");

        reply.Status.Should().Be(HttpStatusCode.NotFound);
        reply.Error.Should().Be("ERROR_METHOD_NOT_FOUND");
        reply.Description.Should().Be("Method not found!");
    }

    [Fact]
    public async Task A_form_body_a_json_suffix_and_a_mixed_case_name_reach_the_same_method()
    {
        await using var portal = await Portal.StartAsync();
        using var form = new StringContent($"auth={portal.Token.AccessToken}&NUMBER=74951234567&NAME=Main", Encoding.UTF8, "application/x-www-form-urlencoded");
        using var response = await portal.Http.PostAsync("rest/Telephony.ExternalLine.Add.json", form);
        var reply = await Reply.ReadAsync(response);

        reply.Status.Should().Be(HttpStatusCode.OK);
        reply.Result.GetProperty("ID").GetInt64().Should().Be(1);
        portal.Emulator.State.Lines.Should().ContainSingle(l => l.Number == "74951234567" && l.Name == "Main");
    }

    [Fact]
    public async Task Event_bind_get_and_unbind_follow_the_documented_shapes_and_a_duplicate_is_refused()
    {
        await using var portal = await Portal.StartAsync();
        var bind = new { @event = "OnExternalCallStart", handler = "https://switchboard.example/b24/events" };

        (await portal.CallAsync("event.bind", bind)).Result.GetBoolean().Should().BeTrue();
        var duplicate = await portal.CallAsync("event.bind", bind);
        duplicate.Status.Should().Be(HttpStatusCode.BadRequest);
        duplicate.Error.Should().Be("ERROR_CORE");
        duplicate.Description.Should().Be("Handler already binded");

        var unknown = await portal.CallAsync("event.bind", new { @event = "ONNOSUCHEVENT", handler = "https://x.example/" });
        unknown.Error.Should().Be("ERROR_EVENT_NOT_FOUND");

        var list = (await portal.CallAsync("event.get")).Result;
        list.GetArrayLength().Should().Be(1);
        list[0].GetProperty("event").GetString().Should().Be("ONEXTERNALCALLSTART");
        list[0].GetProperty("auth_type").GetString().Should().Be("0");
        list[0].GetProperty("offline").GetInt32().Should().Be(0);

        (await portal.CallAsync("event.unbind", bind)).Result.GetProperty("count").GetInt32().Should().Be(1);
        portal.Emulator.State.Handlers.Should().BeEmpty();
    }

    [Fact]
    public async Task External_lines_answer_the_documented_errors()
    {
        await using var portal = await Portal.StartAsync();
        (await portal.CallAsync("telephony.externalLine.add", new { NUMBER = "" })).Description.Should().Be("NUMBER should not be empty");
        (await portal.CallAsync("telephony.externalLine.add", new { NUMBER = "100", NAME = "A" })).Result.GetProperty("ID").GetInt64().Should().Be(1);
        var again = await portal.CallAsync("telephony.externalLine.add", new { NUMBER = "100" });
        again.Error.Should().Be("ERROR_CORE");
        again.Description.Should().Be("Line already exists");

        (await portal.CallAsync("telephony.externalLine.update", new { NUMBER = "100" })).Description.Should().Be("There are no fields to update");
        (await portal.CallAsync("telephony.externalLine.update", new { NUMBER = "999", NAME = "B" })).Description.Should().Be("Could not find line with number 999");
        (await portal.CallAsync("telephony.externalLine.update", new { NUMBER = "100", NAME = "B", CRM_AUTO_CREATE = "N" })).Result.GetProperty("ID").GetString().Should().Be("1");

        var get = (await portal.CallAsync("telephony.externalLine.get")).Result;
        get[0].GetProperty("NAME").GetString().Should().Be("B");
        get[0].GetProperty("CRM_AUTO_CREATE").GetString().Should().Be("N");

        (await portal.CallAsync("telephony.externalLine.delete", new { NUMBER = "100" })).Result.GetArrayLength().Should().Be(0);
        (await portal.CallAsync("telephony.externalLine.delete", new { NUMBER = "100" })).Description.Should().Be("Could not find line with number 100");
    }

    [Fact]
    public async Task Register_show_hide_and_finish_are_recorded_with_their_parameters()
    {
        await using var portal = await Portal.StartAsync();
        var reg = await portal.CallAsync("telephony.externalcall.register", new
        {
            USER_PHONE_INNER = "101", PHONE_NUMBER = "+14155551234", TYPE = 2, LINE_NUMBER = "74951234567",
            EXTERNAL_CALL_ID = "asterisk-1710140185.18441", CALL_START_DATE = "2026-03-11T17:28:46+03:00",
        });
        reg.Status.Should().Be(HttpStatusCode.OK);
        var callId = reg.Result.GetProperty("CALL_ID").GetString()!;
        callId.Should().MatchRegex(@"^externalCall\.[0-9a-f]{32}\.\d+$");
        reg.Result.GetProperty("CRM_ENTITY_TYPE").GetString().Should().Be("CONTACT");
        reg.Result.GetProperty("CRM_ENTITY_ID").GetInt64().Should().Be(797);
        reg.Result.GetProperty("CRM_CREATED_ENTITIES").GetArrayLength().Should().Be(0);

        (await portal.CallAsync("telephony.externalcall.show", new { CALL_ID = callId, USER_ID = new[] { 2, 3 } })).Result.GetBoolean().Should().BeTrue();
        (await portal.CallAsync("telephony.externalcall.hide", new { CALL_ID = callId, USER_ID = 3 })).Result.GetBoolean().Should().BeTrue();
        (await portal.CallAsync("telephony.externalcall.show", new { CALL_ID = "externalCall.nope.1" })).Result.GetBoolean().Should().BeFalse();

        var finish = await portal.CallAsync("telephony.externalcall.finish", new { CALL_ID = callId, USER_ID = 2, DURATION = 42 });
        finish.Result.GetProperty("CALL_FAILED_CODE").GetString().Should().Be("200");
        finish.Result.GetProperty("CALL_DURATION").GetInt32().Should().Be(42);

        var call = portal.Emulator.State.FindCall(callId)!;
        call.UserId.Should().Be(2);
        call.ExternalCallId.Should().Be("asterisk-1710140185.18441");
        call.RegisterParameters["LINE_NUMBER"].Should().Be("74951234567");
        call.ShownTo.Should().Equal(2, 3);
        call.HiddenFrom.Should().Equal(3);
        call.Finished.Should().BeTrue();
        call.FinishParameters!["DURATION"].Should().Be("42");
    }

    [Fact]
    public async Task Register_answers_the_documented_validation_errors()
    {
        await using var portal = await Portal.StartAsync();
        (await portal.CallAsync("telephony.externalcall.register", new { PHONE_NUMBER = "+1", TYPE = 1 })).Description.Should().Be("USER_ID or USER_PHONE_INNER should be set");
        (await portal.CallAsync("telephony.externalcall.register", new { USER_ID = 2, PHONE_NUMBER = "+1", TYPE = 9 })).Description.Should().Be("Unknown TYPE");
        (await portal.CallAsync("telephony.externalcall.register", new { USER_ID = 2, PHONE_NUMBER = "+1", TYPE = 1, CALL_START_DATE = "yesterday" })).Description.Should().Be("CALL_START_DATE should be in the ISO-8601 format");
        (await portal.CallAsync("telephony.externalcall.register", new { USER_ID = 99, PHONE_NUMBER = "+1", TYPE = 1 })).Description.Should().Be("User is not found or is not active");
    }

    [Fact]
    public async Task Finishing_an_unknown_call_answers_call_is_not_found()
    {
        await using var portal = await Portal.StartAsync();
        var reply = await portal.CallAsync("telephony.externalcall.finish", new { CALL_ID = "externalCall.0.1", USER_ID = 2 });

        reply.Status.Should().Be(HttpStatusCode.BadRequest);
        reply.Error.Should().Be("ERROR_CORE");
        reply.Description.Should().Be("Call is not found (call should be registered prior to finishing)");
    }

    [Fact]
    public async Task An_injected_lead_creation_error_comes_back_with_a_200_and_a_call_id()
    {
        await using var portal = await Portal.StartAsync();
        portal.Emulator.Faults.InjectLeadCreationError("Could not create lead");
        var reply = await portal.CallAsync("telephony.externalcall.register", new { USER_ID = 2, PHONE_NUMBER = "+4930123456", TYPE = 2, CRM_CREATE = 1 });

        reply.Status.Should().Be(HttpStatusCode.OK);
        reply.Result.GetProperty("CALL_ID").GetString().Should().StartWith("externalCall.");
        reply.Result.GetProperty("LEAD_CREATION_ERROR").GetString().Should().Be("Could not create lead");

        var next = await portal.CallAsync("telephony.externalcall.register", new { USER_ID = 2, PHONE_NUMBER = "+4930999999", TYPE = 2, CRM_CREATE = 1 });
        next.Result.TryGetProperty("LEAD_CREATION_ERROR", out _).Should().BeFalse();
        next.Result.GetProperty("CRM_CREATED_LEAD").GetInt64().Should().BePositive();
    }

    [Fact]
    public async Task Search_crm_entities_finds_the_contact_by_number_and_requires_one()
    {
        await using var portal = await Portal.StartAsync();
        var found = (await portal.CallAsync("telephony.externalCall.searchCrmEntities", new { PHONE_NUMBER = "+1 (415) 555-1234" })).Result;
        found.GetArrayLength().Should().Be(1);
        found[0].GetProperty("CRM_ENTITY_TYPE").GetString().Should().Be("CONTACT");
        found[0].GetProperty("ASSIGNED_BY").GetProperty("USER_PHONE_INNER").GetString().Should().Be("101");

        (await portal.CallAsync("telephony.externalCall.searchCrmEntities", new { PHONE_NUMBER = "" })).Description.Should().Be("PHONE_NUMBER is empty");
    }
}
