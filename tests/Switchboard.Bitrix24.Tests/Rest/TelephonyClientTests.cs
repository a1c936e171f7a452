using System.Text.Json.Nodes;
using Switchboard.Bitrix24.Events;
using Switchboard.Bitrix24.Rest;
using Switchboard.Bitrix24.Telephony;

namespace Switchboard.Bitrix24.Tests.Rest;

public sealed class TelephonyClientTests
{
    [Fact]
    public async Task Register_sends_the_external_call_id_and_an_iso_date_with_offset_and_surfaces_a_lead_creation_error_on_200()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/telephony.externalCall.register", _ => FakeReply.Ok(JsonNode.Parse("""
            {"CALL_ID":"externalCall.716fc568.1773130779","CRM_CREATED_LEAD":null,"CRM_CREATED_ENTITIES":[{"ENTITY_TYPE":"CONTACT","ENTITY_ID":"797"}],
             "CRM_ENTITY_TYPE":"CONTACT","CRM_ENTITY_ID":797,"LEAD_CREATION_ERROR":"Lead creation is disabled"}
            """)));
        using var h = new RestHarness(fake);
        var telephony = new TelephonyClient(h.Client);

        var r = await telephony.RegisterAsync(RestHarness.MemberId, new RegisterCallRequest
        {
            ExternalCallId = "asterisk-1710140185.18441",
            PhoneNumber = "+74951234567",
            Type = CallType.Incoming,
            UserPhoneInner = "101",
            CallStartDate = new DateTimeOffset(2026, 3, 7, 10, 20, 30, TimeSpan.FromHours(3)),
            CrmCreate = true,
            LineNumber = "74950000000",
            Show = false,
        });

        r.IsSuccess.Should().BeTrue();
        r.Value!.CallId.Should().Be("externalCall.716fc568.1773130779");
        r.Value.LeadCreationError.Should().Be("Lead creation is disabled");
        r.Value.CrmEntityType.Should().Be(CrmEntityType.Contact);
        r.Value.CrmEntityId.Should().Be(797);
        r.Value.CrmCreatedLead.Should().BeNull();
        r.Value.CrmCreatedEntities.Should().Equal(new CrmEntityRef(CrmEntityType.Contact, 797));
        var sent = fake.Requests.Single().Json!;
        sent["EXTERNAL_CALL_ID"]!.GetValue<string>().Should().Be("asterisk-1710140185.18441");
        sent["CALL_START_DATE"]!.GetValue<string>().Should().Be("2026-03-07T10:20:30+03:00");
        sent["TYPE"]!.GetValue<int>().Should().Be(2);
        sent["USER_PHONE_INNER"]!.GetValue<string>().Should().Be("101");
        sent["CRM_CREATE"]!.GetValue<int>().Should().Be(1);
        sent["SHOW"]!.GetValue<int>().Should().Be(0);
        sent["LINE_NUMBER"]!.GetValue<string>().Should().Be("74950000000");
        sent.ContainsKey("USER_ID").Should().BeFalse();
    }

    [Fact]
    public async Task Register_without_an_external_call_id_or_a_user_is_refused_before_sending()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        using var h = new RestHarness(fake);
        var telephony = new TelephonyClient(h.Client);

        var noId = () => telephony.RegisterAsync(RestHarness.MemberId, new RegisterCallRequest { ExternalCallId = " ", PhoneNumber = "1", Type = CallType.Outgoing, UserId = 1 });
        var noUser = () => telephony.RegisterAsync(RestHarness.MemberId, new RegisterCallRequest { ExternalCallId = "x", PhoneNumber = "1", Type = CallType.Outgoing });

        await noId.Should().ThrowAsync<ArgumentException>();
        await noUser.Should().ThrowAsync<ArgumentException>();
        fake.Requests.Should().BeEmpty();
    }

    [Fact]
    public async Task Finish_sends_the_status_code_as_text_and_reads_the_statistics_record()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/telephony.externalCall.finish", _ => FakeReply.Ok(JsonNode.Parse("""
            {"ID":"321","CALL_ID":"externalCall.1","EXTERNAL_CALL_ID":"pbx-1","CALL_FAILED_CODE":"603-S","CRM_ACTIVITY_ID":"55","CALL_START_DATE":{}}
            """)));
        using var h = new RestHarness(fake);

        var r = await new TelephonyClient(h.Client).FinishAsync(RestHarness.MemberId, new FinishCallRequest
        {
            CallId = "externalCall.1", UserId = 7, Duration = TimeSpan.FromSeconds(42.7), StatusCode = CallStatusCode.Cancelled, Cost = 1.5m, CostCurrency = "RUB",
        });

        r.Value!.Id.Should().Be(321);
        r.Value.CallFailedCode.Should().Be(CallStatusCode.Cancelled);
        r.Value.CrmActivityId.Should().Be(55);
        var sent = fake.Requests.Single().Json!;
        sent["STATUS_CODE"]!.GetValue<string>().Should().Be("603-S");
        sent["DURATION"]!.GetValue<long>().Should().Be(42);
        sent["USER_ID"]!.GetValue<long>().Should().Be(7);
        sent["COST"]!.GetValue<decimal>().Should().Be(1.5m);
    }

    [Fact]
    public async Task Show_and_hide_send_the_users_and_read_the_boolean()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/telephony.externalCall.show", _ => FakeReply.Ok(true));
        fake.On("/rest/telephony.externalCall.hide", _ => FakeReply.Ok(false));
        using var h = new RestHarness(fake);
        var telephony = new TelephonyClient(h.Client);

        (await telephony.ShowAsync(RestHarness.MemberId, "c1", [1, 2])).Value.Should().BeTrue();
        (await telephony.HideAsync(RestHarness.MemberId, "c1")).Value.Should().BeFalse();

        fake.To("/rest/telephony.externalCall.show").Single().Json!["USER_ID"]!.AsArray().Select(n => n!.GetValue<long>()).Should().Equal(1, 2);
        fake.To("/rest/telephony.externalCall.hide").Single().Json!.ContainsKey("USER_ID").Should().BeFalse();
    }

    [Fact]
    public async Task Attach_record_sends_the_file_as_base64()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/telephony.externalCall.attachRecord", _ => FakeReply.Ok(new JsonObject { ["FILE_ID"] = 9079 }));
        using var h = new RestHarness(fake);
        byte[] audio = [0x49, 0x44, 0x33, 0x04, 0x00, 0xff];

        var r = await new TelephonyClient(h.Client).AttachRecordAsync(RestHarness.MemberId, "externalCall.1", "call.mp3", audio);

        r.Value!.FileId.Should().Be(9079);
        var sent = fake.Requests.Single().Json!;
        sent["FILENAME"]!.GetValue<string>().Should().Be("call.mp3");
        Convert.FromBase64String(sent["FILE_CONTENT"]!.GetValue<string>()).Should().Equal(audio);
    }

    [Fact]
    public async Task Attach_record_by_upload_asks_for_an_upload_url_then_posts_multipart_in_the_named_field()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/telephony.externalCall.attachRecord", r => r.Json!.ContainsKey("FILE_CONTENT")
            ? FakeReply.Error(400, "UNEXPECTED_FILE_CONTENT")
            : FakeReply.Ok(new JsonObject { ["uploadUrl"] = $"http://127.0.0.1:{fake.Port}/rest/upload.json?auth=upload-auth&token=telephony%7C1", ["fieldName"] = "recording" }));
        fake.On("/rest/upload.json", r => r.Form?.Files["recording"] is { Length: 4 } file && file.FileName == "call.wav" && r.Query["token"] == "telephony|1"
            ? FakeReply.Ok(new JsonObject { ["ID"] = 9080 })
            : FakeReply.Error(400, "BAD_UPLOAD"));
        using var h = new RestHarness(fake);

        var r = await new TelephonyClient(h.Client).AttachRecordByUploadAsync(RestHarness.MemberId, "externalCall.1", "call.wav", new byte[] { 1, 2, 3, 4 });

        r.IsSuccess.Should().BeTrue();
        r.Value!.FileId.Should().Be(9080);
        fake.To("/rest/telephony.externalCall.attachRecord").Single().Json!["FILENAME"]!.GetValue<string>().Should().Be("call.wav");
        fake.To("/rest/upload.json").Single().Headers.ContentType.ToString().Should().StartWith("multipart/form-data");
    }

    [Fact]
    public async Task An_upload_url_on_another_host_is_refused_without_sending_the_file()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/telephony.externalCall.attachRecord", _ => FakeReply.Ok(new JsonObject { ["uploadUrl"] = "https://elsewhere.example/upload", ["fieldName"] = "file" }));
        using var h = new RestHarness(fake);

        var r = await new TelephonyClient(h.Client).AttachRecordByUploadAsync(RestHarness.MemberId, "externalCall.1", "call.mp3", new byte[] { 1 });

        r.Error!.Kind.Should().Be(RestErrorKind.DestinationRefused);
        fake.Requests.Should().HaveCount(1);
    }

    [Fact]
    public async Task Search_crm_entities_reads_matches_in_order_with_the_responsible_user()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/telephony.externalCall.searchCrmEntities", r => FakeReply.Ok(JsonNode.Parse("""
            [{"CRM_ENTITY_TYPE":"CONTACT","CRM_ENTITY_ID":"12","NAME":"Ivan","ASSIGNED_BY_ID":"3",
              "ASSIGNED_BY":{"ID":"3","TIMEMAN_STATUS":"OPENED","USER_PHONE_INNER":"103"}},
             {"CRM_ENTITY_TYPE":"LEAD","CRM_ENTITY_ID":5,"NAME":"Lead","ASSIGNED_BY_ID":1}]
            """)));
        using var h = new RestHarness(fake);

        var r = await new TelephonyClient(h.Client).SearchCrmEntitiesAsync(RestHarness.MemberId, "+74951234567");

        r.Value.Should().HaveCount(2);
        r.Value![0].Should().Be(new CrmEntityMatch(CrmEntityType.Contact, 12, "Ivan", 3, new AssignedUser(3, "OPENED", "103")));
        r.Value[1].AssignedBy.Should().BeNull();
        fake.Requests.Single().Json!["PHONE_NUMBER"]!.GetValue<string>().Should().Be("+74951234567");
    }

    [Fact]
    public async Task External_line_methods_send_the_documented_parameters_and_read_their_answers()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/telephony.externalLine.add", _ => FakeReply.Ok(new JsonObject { ["ID"] = 7 }));
        fake.On("/rest/telephony.externalLine.update", _ => FakeReply.Ok(new JsonObject { ["ID"] = "7" }));
        fake.On("/rest/telephony.externalLine.delete", _ => FakeReply.Ok(new JsonArray()));
        fake.On("/rest/telephony.externalLine.get", _ => FakeReply.Ok(JsonNode.Parse("""[{"NUMBER":"74950000000","NAME":"Main","CRM_AUTO_CREATE":"N"}]""")));
        using var h = new RestHarness(fake);
        var telephony = new TelephonyClient(h.Client);

        (await telephony.AddLineAsync(RestHarness.MemberId, "74950000000", "Main", crmAutoCreate: false)).Value.Should().Be(7);
        (await telephony.UpdateLineAsync(RestHarness.MemberId, "74950000000", name: "Office")).Value.Should().Be(7);
        (await telephony.GetLinesAsync(RestHarness.MemberId)).Value.Should().Equal(new ExternalLine("74950000000", "Main", false));
        (await telephony.DeleteLineAsync(RestHarness.MemberId, "74950000000")).Value.Should().BeTrue();

        var add = fake.To("/rest/telephony.externalLine.add").Single().Json!;
        add["NUMBER"]!.GetValue<string>().Should().Be("74950000000");
        add["CRM_AUTO_CREATE"]!.GetValue<string>().Should().Be("N");
        fake.To("/rest/telephony.externalLine.update").Single().Json!["NAME"]!.GetValue<string>().Should().Be("Office");
    }

    [Fact]
    public async Task App_info_is_read_into_its_typed_fields()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/app.info", _ => FakeReply.Ok(JsonNode.Parse("""{"ID":"17","CODE":"local.abc","VERSION":"3","STATUS":"L","INSTALLED":true,"PAYMENT_EXPIRED":"N","DAYS":null}""")));
        using var h = new RestHarness(fake);

        var r = await new PortalClient(h.Client).AppInfoAsync(RestHarness.MemberId);

        r.Value!.Id.Should().Be(17);
        r.Value.Code.Should().Be("local.abc");
        r.Value.Status.Should().Be(ApplicationStatus.Local);
        r.Value.Installed.Should().BeTrue();
    }

    [Theory]
    [InlineData(null, null, EventBindOutcome.Bound)]
    [InlineData("ERROR_CORE", "Handler already binded", EventBindOutcome.AlreadyBound)]
    [InlineData("ERROR_CORE", "Unable to set event handler", EventBindOutcome.AlreadyBound)]
    public async Task Event_bind_treats_an_existing_binding_as_success(string? code, string? description, EventBindOutcome expected)
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/event.bind", _ => code is null ? FakeReply.Ok(true) : FakeReply.Error(400, code, description!));
        using var h = new RestHarness(fake);

        var r = await new PortalClient(h.Client).BindEventAsync(RestHarness.MemberId, "ONEXTERNALCALLSTART", new Uri("https://switchboard.example/events"));

        r.Value.Should().Be(expected);
        var sent = fake.Requests.Single().Json!;
        sent["event"]!.GetValue<string>().Should().Be("ONEXTERNALCALLSTART");
        sent["handler"]!.GetValue<string>().Should().Be("https://switchboard.example/events");
    }

    [Fact]
    public async Task Event_bind_reports_other_errors()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/event.bind", _ => FakeReply.Error(400, "ERROR_EVENT_NOT_FOUND", "Event not found"));
        using var h = new RestHarness(fake);

        var r = await new PortalClient(h.Client).BindEventAsync(RestHarness.MemberId, "ONNOPE", new Uri("https://switchboard.example/events"));

        r.Error!.Code.Should().Be("ERROR_EVENT_NOT_FOUND");
    }

    [Fact]
    public async Task User_get_reads_every_page_with_the_same_filter()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/user.get", r =>
        {
            r.Json!["FILTER"]!["ACTIVE"]!.GetValue<bool>().Should().BeTrue();
            var start = r.Json["start"]!.GetValue<long>();
            var count = start < 100 ? 50 : 7;
            var page = new JsonArray([.. Enumerable.Range((int)start + 1, count).Select(id => (JsonNode)new JsonObject
            {
                ["ID"] = id.ToString(System.Globalization.CultureInfo.InvariantCulture), ["ACTIVE"] = true, ["NAME"] = $"U{id}",
                ["UF_PHONE_INNER"] = id % 2 == 0 ? $"{100 + id}" : "",
            })]);
            return FakeReply.Ok(page, start < 100 ? $"\"next\":{start + 50},\"total\":107" : "\"total\":107");
        });
        using var h = new RestHarness(fake);

        var r = await new PortalClient(h.Client).GetUsersAsync(RestHarness.MemberId, new JsonObject { ["ACTIVE"] = true });

        r.Value.Should().HaveCount(107);
        r.Value!.Single(u => u.Id == 2).PhoneInner.Should().Be("102");
        r.Value!.Single(u => u.Id == 3).PhoneInner.Should().BeNull();
        fake.Requests.Select(x => x.Json!["start"]!.GetValue<long>()).Should().Equal(0, 50, 100);
    }
}
