using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Switchboard.Emulator.Tests.Support;

namespace Switchboard.Emulator.Tests;

public sealed class TelephonyTests
{
    private static readonly object Incoming = new { USER_ID = 2, PHONE_NUMBER = "+14155550000", TYPE = 2, LINE_NUMBER = "100" };

    private static async Task<string> RegisterAsync(Portal portal, object parameters) =>
        (await portal.CallAsync("telephony.externalcall.register", parameters)).Result.GetProperty("CALL_ID").GetString()!;

    private static async Task<string> FinishedCallAsync(Portal portal)
    {
        var id = await RegisterAsync(portal, Incoming);
        (await portal.CallAsync("telephony.externalcall.finish", new { CALL_ID = id, USER_ID = 2, DURATION = 10 })).Status.Should().Be(HttpStatusCode.OK);
        return id;
    }

    [Fact]
    public async Task Registering_the_same_number_type_user_and_line_within_30_minutes_returns_the_same_call_id_even_after_finish()
    {
        await using var portal = await Portal.StartAsync();
        var first = await RegisterAsync(portal, Incoming);
        (await portal.CallAsync("telephony.externalcall.finish", new { CALL_ID = first, USER_ID = 2 })).Status.Should().Be(HttpStatusCode.OK);

        portal.Time.Advance(TimeSpan.FromMinutes(29));
        var second = await RegisterAsync(portal, Incoming);
        second.Should().Be(first);
        portal.Emulator.State.FindCall(first)!.RegisterCount.Should().Be(2);

        // The quirk's consequence (b24-rest-docs#175): the second finish fails.
        (await portal.CallAsync("telephony.externalcall.finish", new { CALL_ID = second, USER_ID = 2 })).Description
            .Should().Be("Call is not found (call should be registered prior to finishing)");

        portal.Time.Advance(TimeSpan.FromMinutes(2));
        (await RegisterAsync(portal, Incoming)).Should().NotBe(first);
    }

    [Fact]
    public async Task A_unique_external_call_id_gets_a_new_call_id_every_time()
    {
        await using var portal = await Portal.StartAsync();
        var a = await RegisterAsync(portal, new { USER_ID = 2, PHONE_NUMBER = "+14155550000", TYPE = 2, LINE_NUMBER = "100", EXTERNAL_CALL_ID = "pbx-1" });
        var b = await RegisterAsync(portal, new { USER_ID = 2, PHONE_NUMBER = "+14155550000", TYPE = 2, LINE_NUMBER = "100", EXTERNAL_CALL_ID = "pbx-2" });
        var c = await RegisterAsync(portal, new { USER_PHONE_INNER = "101", PHONE_NUMBER = "+14155550000", TYPE = 1, LINE_NUMBER = "100", EXTERNAL_CALL_ID = "pbx-3" });

        new[] { a, b, c }.Should().OnlyHaveUniqueItems();
    }

    [Fact]
    public async Task Attach_record_with_base64_content_stores_the_file_and_checks_extension_and_encoding()
    {
        await using var portal = await Portal.StartAsync();
        var callId = await FinishedCallAsync(portal);
        var wav = new byte[] { 0x52, 0x49, 0x46, 0x46, 1, 2, 3, 4 };

        var ok = await portal.CallAsync("telephony.externalCall.attachRecord", new { CALL_ID = callId, FILENAME = "call.wav", FILE_CONTENT = Convert.ToBase64String(wav) });
        ok.Result.GetProperty("FILE_ID").GetInt64().Should().BePositive();
        portal.Emulator.State.Recordings.Should().ContainSingle(r => r.CallId == callId && r.FileName == "call.wav" && r.Size == wav.Length && r.Mode == "base64");

        (await portal.CallAsync("telephony.externalCall.attachRecord", new { CALL_ID = callId, FILENAME = "call.ogg", FILE_CONTENT = "AAAA" })).Description
            .Should().Be("Wrong file extension. Only wav and mp3 are allowed");
        (await portal.CallAsync("telephony.externalCall.attachRecord", new { CALL_ID = callId, FILENAME = "call.mp3", FILE_CONTENT = "!!not base64!!" })).Description
            .Should().Be("File content is not properly encoded. Base64 encoding is expected.");
        (await portal.CallAsync("telephony.externalCall.attachRecord", new { CALL_ID = callId })).Description
            .Should().Be("Required parameters are not set. Request should contain either URL or FILENAME parameter");
    }

    [Fact]
    public async Task Attach_record_refuses_a_call_that_is_not_finished()
    {
        await using var portal = await Portal.StartAsync();
        var callId = await RegisterAsync(portal, Incoming);
        (await portal.CallAsync("telephony.externalCall.attachRecord", new { CALL_ID = callId, FILENAME = "a.mp3", FILE_CONTENT = "AAAA" })).Description
            .Should().Be("Call is not found in the statistic table. It looks like it is not finished yet.");
    }

    [Fact]
    public async Task Attach_record_without_content_returns_an_upload_url_that_takes_a_multipart_file_field()
    {
        await using var portal = await Portal.StartAsync();
        var callId = await FinishedCallAsync(portal);
        var step1 = (await portal.CallAsync("telephony.externalCall.attachRecord", new { CALL_ID = callId, FILENAME = "long.mp3" })).Result;
        var uploadUrl = step1.GetProperty("uploadUrl").GetString()!;
        var fieldName = step1.GetProperty("fieldName").GetString()!;
        fieldName.Should().Be("file");
        uploadUrl.Should().StartWith(portal.Emulator.ClientEndpoint + "upload.json?auth=").And.Contain("token=telephony%7C");

        var mp3 = new byte[4096];
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(mp3);
        file.Headers.ContentType = new MediaTypeHeaderValue("audio/mpeg");
        form.Add(file, fieldName, "long.mp3");
        using var response = await portal.Http.PostAsync(new Uri(uploadUrl), form);
        var reply = await Reply.ReadAsync(response);

        reply.Status.Should().Be(HttpStatusCode.OK);
        reply.Result.GetProperty("FILE_ID").GetInt64().Should().BePositive();
        portal.Emulator.State.Recordings.Should().ContainSingle(r => r.CallId == callId && r.FileName == "long.mp3" && r.Size == 4096 && r.Mode == "uploadUrl");

        // The upload token is single-use.
        using var form2 = new MultipartFormDataContent { { new ByteArrayContent(mp3), fieldName, "long.mp3" } };
        using var again = await portal.Http.PostAsync(new Uri(uploadUrl), form2);
        again.StatusCode.Should().Be(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task User_get_pages_by_50_with_next_and_total_and_filters_by_extension()
    {
        await using var portal = await Portal.StartAsync(o =>
        {
            o.Users.Clear();
            for (var i = 1; i <= 120; i++)
            {
                o.Users.Add(new EmulatedUser { Id = i, Name = $"User{i}", IsAdmin = i == 1, PhoneInner = (1000 + i).ToString(System.Globalization.CultureInfo.InvariantCulture), Active = i != 7 });
            }
        });

        var page1 = await portal.CallAsync("user.get");
        page1.Result.GetArrayLength().Should().Be(50);
        page1.Json.GetProperty("total").GetInt32().Should().Be(120);
        page1.Json.GetProperty("next").GetInt32().Should().Be(50);
        var page3 = await portal.CallAsync("user.get", new { start = 100 });
        page3.Result.GetArrayLength().Should().Be(20);
        page3.Json.TryGetProperty("next", out _).Should().BeFalse();
        page3.Result[0].GetProperty("ID").GetString().Should().Be("101");

        var byExtension = await portal.CallAsync("user.get", new { FILTER = new { UF_PHONE_INNER = "1042" } });
        byExtension.Result.GetArrayLength().Should().Be(1);
        byExtension.Result[0].GetProperty("ID").GetString().Should().Be("42");
        byExtension.Json.GetProperty("total").GetInt32().Should().Be(1);

        var active = await portal.CallAsync("user.get", new { FILTER = new { ACTIVE = true }, start = 100 });
        active.Json.GetProperty("total").GetInt32().Should().Be(119);
    }

    [Fact]
    public async Task Batch_runs_commands_reports_errors_and_answers_empty_parts_as_arrays()
    {
        await using var portal = await Portal.StartAsync();
        var reply = await portal.CallAsync("batch", new
        {
            halt = 0,
            cmd = new Dictionary<string, string>
            {
                ["line"] = "telephony.externalLine.add?NUMBER=555&NAME=Batch%20line",
                ["users"] = "user.get?FILTER[UF_PHONE_INNER]=101",
                ["bad"] = "telephony.externalLine.add?NUMBER=555",
            },
        });

        reply.Status.Should().Be(HttpStatusCode.OK);
        var r = reply.Result;
        r.GetProperty("result").GetProperty("line").GetProperty("ID").GetInt64().Should().Be(1);
        r.GetProperty("result").GetProperty("users")[0].GetProperty("ID").GetString().Should().Be("2");
        r.GetProperty("result_error").GetProperty("bad").GetProperty("error_description").GetString().Should().Be("Line already exists");
        r.GetProperty("result_total").GetProperty("users").GetInt32().Should().Be(1);
        r.GetProperty("result_next").ValueKind.Should().Be(JsonValueKind.Array);
        r.GetProperty("result_time").GetProperty("line").GetProperty("operating").GetDouble().Should().BePositive();
        portal.Emulator.State.Lines.Single().Name.Should().Be("Batch line");

        var clean = (await portal.CallAsync("batch", new { cmd = new { a = "app.info" } })).Result;
        clean.GetProperty("result_error").ValueKind.Should().Be(JsonValueKind.Array);
        clean.GetProperty("result_error").GetArrayLength().Should().Be(0);
    }

    [Fact]
    public async Task Batch_with_halt_stops_at_the_first_error_and_refuses_a_nested_batch()
    {
        await using var portal = await Portal.StartAsync();
        var reply = await portal.CallAsync("batch", new
        {
            halt = 1,
            cmd = new Dictionary<string, string> { ["nested"] = "batch?cmd[x]=app.info", ["after"] = "telephony.externalLine.add?NUMBER=1" },
        });

        var r = reply.Result;
        r.GetProperty("result_error").GetProperty("nested").GetProperty("error").GetString().Should().Be("ERROR_BATCH_METHOD_NOT_ALLOWED");
        r.GetProperty("result").ValueKind.Should().Be(JsonValueKind.Array);
        portal.Emulator.State.Lines.Should().BeEmpty();
    }

    [Fact]
    public async Task Batch_with_51_commands_answers_400_ERROR_BATCH_LENGTH_EXCEEDED_and_runs_nothing()
    {
        await using var portal = await Portal.StartAsync();
        var cmd = Enumerable.Range(0, 51).ToDictionary(i => $"c{i}", i => $"telephony.externalLine.add?NUMBER={i}");
        var reply = await portal.CallAsync("batch", new { cmd });

        reply.Status.Should().Be(HttpStatusCode.BadRequest);
        reply.Error.Should().Be("ERROR_BATCH_LENGTH_EXCEEDED");
        portal.Emulator.State.Lines.Should().BeEmpty();

        var fifty = Enumerable.Range(0, 50).ToDictionary(i => $"c{i}", i => $"telephony.externalLine.add?NUMBER={i}");
        (await portal.CallAsync("batch", new { cmd = fifty })).Status.Should().Be(HttpStatusCode.OK);
        portal.Emulator.State.Lines.Should().HaveCount(50);
    }
}
