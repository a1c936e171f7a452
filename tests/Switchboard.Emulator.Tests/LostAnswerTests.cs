using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Switchboard.Emulator.Tests.Support;

namespace Switchboard.Emulator.Tests;

/// <summary>
/// What an outbox needs to prove it never loses or doubles a command: answers lost after the portal
/// did the work, answers held while the client dies, and a per-call count of every telephony request.
/// </summary>
public sealed class LostAnswerTests
{
    private const string Finish = "telephony.externalCall.finish";
    private const string CallNotFound = "Call is not found (call should be registered prior to finishing)";

    private static async Task<string> RegisterAsync(Portal portal, string phone = "+14155550000") =>
        (await portal.CallAsync("telephony.externalcall.register", new { USER_ID = 2, PHONE_NUMBER = phone, TYPE = 2, LINE_NUMBER = "100" }))
        .Result.GetProperty("CALL_ID").GetString()!;

    private static Task<Reply> FinishAsync(Portal portal, string callId) =>
        portal.CallAsync(Finish, new { CALL_ID = callId, USER_ID = 2, DURATION = 10 });

    private static async Task UntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            DateTime.UtcNow.Should().BeBefore(deadline, "the condition should hold within 10 s");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Apply_then_drop_finishes_the_call_but_the_client_gets_no_answer_and_a_retry_is_counted_and_refused()
    {
        await using var portal = await Portal.StartAsync();
        var callId = await RegisterAsync(portal);
        portal.Emulator.Faults.FailNext(1, FaultKind.ApplyThenDrop, Finish);

        // Aimed at finish: other methods pass it by.
        (await portal.CallAsync("app.info")).Status.Should().Be(HttpStatusCode.OK);

        await FluentActions.Awaiting(() => FinishAsync(portal, callId)).Should().ThrowAsync<HttpRequestException>();
        portal.Emulator.State.FindCall(callId)!.Finished.Should().BeTrue();
        portal.Emulator.State.RequestLog[^1].Should().BeEquivalentTo(new
        {
            Method = "telephony.externalcall.finish",
            Status = 200,
            Error = (string?)null,
            CallId = callId,
            Fault = FaultKind.ApplyThenDrop,
        });
        portal.Emulator.State.RequestsFor(callId, Finish).Should().Be(1);

        // The client retries blindly: REFERENCE §6.2 lists ERROR_CORE "Call is not found (call should be
        // registered prior to finishing)", which is what a finished call answers.
        (await FinishAsync(portal, callId)).Description.Should().Be(CallNotFound);
        portal.Emulator.State.RequestsFor(callId, Finish).Should().Be(2);
        portal.Emulator.State.RequestsFor(callId, "TELEPHONY.EXTERNALCALL.FINISH").Should().Be(2);
    }

    [Fact]
    public async Task Apply_then_delay_changes_the_state_while_the_client_is_still_waiting_for_the_answer()
    {
        await using var portal = await Portal.StartAsync();
        var callId = await RegisterAsync(portal);
        portal.Emulator.Faults.Delay = TimeSpan.FromSeconds(30);
        portal.Emulator.Faults.FailNext(1, FaultKind.ApplyThenDelay, Finish);
        using var client = new CancellationTokenSource();
        var body = JsonContent.Create(new { auth = portal.Token.AccessToken, CALL_ID = callId, USER_ID = 2 });

        var waiting = portal.Http.PostAsync("rest/telephony.externalCall.finish.json", body, client.Token);
        await UntilAsync(() => portal.Emulator.State.FindCall(callId)!.Finished);

        waiting.IsCompleted.Should().BeFalse("the answer is held for Faults.Delay");
        portal.Emulator.State.RequestLog[^1].Fault.Should().Be(FaultKind.ApplyThenDelay);
        await client.CancelAsync(); // The client dies while waiting.
        await FluentActions.Awaiting(() => waiting).Should().ThrowAsync<OperationCanceledException>();

        portal.Emulator.State.RequestsFor(callId, Finish).Should().Be(1);
        (await FinishAsync(portal, callId)).Description.Should().Be(CallNotFound);
        portal.Emulator.State.RequestsFor(callId, Finish).Should().Be(2);
    }

    [Fact]
    public async Task Stopping_the_emulator_drops_a_held_answer_at_once_and_keeps_the_work()
    {
        await using var portal = await Portal.StartAsync();
        var callId = await RegisterAsync(portal);
        portal.Emulator.Faults.Delay = TimeSpan.FromMinutes(5);
        portal.Emulator.Faults.FailNext(1, FaultKind.ApplyThenDelay);

        var waiting = FinishAsync(portal, callId);
        await UntilAsync(() => portal.Emulator.State.FindCall(callId)!.Finished);
        var stop = portal.Emulator.StopAsync();

        // Kestrel would otherwise wait its 30 s shutdown timeout for the held request.
        await stop.WaitAsync(TimeSpan.FromSeconds(20));
        await FluentActions.Awaiting(() => waiting).Should().ThrowAsync<HttpRequestException>();
        await portal.Emulator.StartAsync();
        portal.Emulator.State.FindCall(callId)!.Finished.Should().BeTrue();
        portal.Emulator.State.RequestsFor(callId, Finish).Should().Be(1);
    }

    [Fact]
    public async Task Apply_then_drop_on_a_batch_runs_every_command_and_logs_each_with_its_call_id()
    {
        await using var portal = await Portal.StartAsync();
        var a = await RegisterAsync(portal, "+14155550001");
        var b = await RegisterAsync(portal, "+14155550002");
        portal.Emulator.Faults.FailNext(1, FaultKind.ApplyThenDrop, "batch");

        // A finish-only request is not a batch: it passes the fault by.
        (await portal.CallAsync(Finish, new { CALL_ID = "no-such-call", USER_ID = 2 })).Description.Should().Be(CallNotFound);

        var batch = portal.CallAsync("batch", new
        {
            halt = 0,
            cmd = new Dictionary<string, string>
            {
                ["a"] = $"telephony.externalCall.finish?CALL_ID={a}&USER_ID=2&DURATION=5",
                ["b"] = $"telephony.externalCall.finish?CALL_ID={b}&USER_ID=2",
                ["again"] = $"telephony.externalCall.finish?CALL_ID={a}&USER_ID=2",
            },
        });
        await FluentActions.Awaiting(() => batch).Should().ThrowAsync<HttpRequestException>();

        var state = portal.Emulator.State;
        state.FindCall(a)!.Finished.Should().BeTrue();
        state.FindCall(b)!.Finished.Should().BeTrue();
        state.RequestLog.TakeLast(4).Should().BeEquivalentTo(
            new object[]
            {
                new { Method = "telephony.externalcall.finish", Status = 200, CallId = a, BatchCommand = "a" },
                new { Method = "telephony.externalcall.finish", Status = 200, CallId = b, BatchCommand = "b" },
                new { Method = "telephony.externalcall.finish", Status = 400, Error = "ERROR_CORE", CallId = a, BatchCommand = "again" },
                new { Method = "batch", Status = 200, CallId = (string?)null, BatchCommand = (string?)null, Fault = FaultKind.ApplyThenDrop },
            },
            o => o.WithStrictOrdering());
        state.RequestsFor(a, Finish).Should().Be(2);
        state.RequestsFor(b, Finish).Should().Be(1);
        state.RequestsFor("no-such-call", Finish).Should().Be(1);
    }

    [Fact]
    public async Task Register_show_hide_finish_and_attach_record_are_counted_per_call_whether_they_succeed_or_are_refused()
    {
        await using var portal = await Portal.StartAsync();
        var callId = await RegisterAsync(portal);
        (await RegisterAsync(portal)).Should().Be(callId, "the same number, type, user and line within 30 minutes is deduplicated");
        var other = await RegisterAsync(portal, "+14155550009");
        await portal.CallAsync("telephony.externalCall.show", new { CALL_ID = callId, USER_ID = new[] { 2, 3 } });
        await portal.CallAsync("telephony.externalCall.hide", new { CALL_ID = callId, USER_ID = 3 });
        // attachRecord before finish is refused: "Call is not found in the statistic table" (REFERENCE §6.4).
        (await portal.CallAsync("telephony.externalCall.attachRecord", new { CALL_ID = callId, FILENAME = "a.mp3", FILE_CONTENT = "AAAA" })).Error.Should().Be("ERROR_CORE");
        (await FinishAsync(portal, callId)).Status.Should().Be(HttpStatusCode.OK);
        (await portal.CallAsync("batch", new { cmd = new { f = $"telephony.externalCall.finish?CALL_ID={callId}&USER_ID=2" } })).Status.Should().Be(HttpStatusCode.OK);
        (await portal.CallAsync("telephony.externalCall.attachRecord", new { CALL_ID = callId, FILENAME = "a.mp3", FILE_CONTENT = "AAAA" })).Status.Should().Be(HttpStatusCode.OK);

        var state = portal.Emulator.State;
        state.RequestsFor(callId, "telephony.externalCall.register").Should().Be(2);
        state.RequestsFor(callId, "telephony.externalCall.show").Should().Be(1);
        state.RequestsFor(callId, "telephony.externalCall.hide").Should().Be(1);
        state.RequestsFor(callId, "telephony.externalCall.attachRecord").Should().Be(2);
        state.RequestsFor(callId, Finish).Should().Be(2);
        state.RequestsFor(other, "telephony.externalCall.register").Should().Be(1);
        state.RequestsFor(other, Finish).Should().Be(0);

        using var doc = JsonDocument.Parse(portal.Emulator.StateJsonText());
        var counts = doc.RootElement.GetProperty("call_requests").GetProperty(callId);
        counts.GetProperty("telephony.externalcall.finish").GetInt32().Should().Be(2);
        counts.GetProperty("telephony.externalcall.register").GetInt32().Should().Be(2);
        doc.RootElement.GetProperty("requests").EnumerateArray()
            .Should().Contain(e => e.GetProperty("batchCommand").GetString() == "f" && e.GetProperty("callId").GetString() == callId);
    }

    [Fact]
    public async Task A_fault_aimed_at_a_method_waits_for_it_while_an_unaimed_one_takes_the_next_request()
    {
        await using var portal = await Portal.StartAsync();
        var callId = await RegisterAsync(portal);
        portal.Emulator.Faults.FailNext(1, FaultKind.InternalServerError, "Telephony.ExternalCall.Finish.json");
        portal.Emulator.Faults.FailNext(1, FaultKind.QueryLimitExceeded);

        (await portal.CallAsync("app.info")).Error.Should().Be("QUERY_LIMIT_EXCEEDED");
        (await portal.CallAsync("app.info")).Status.Should().Be(HttpStatusCode.OK);
        (await FinishAsync(portal, callId)).Error.Should().Be("INTERNAL_SERVER_ERROR");
        portal.Emulator.State.FindCall(callId)!.Finished.Should().BeFalse();
        portal.Emulator.State.RequestsFor(callId, Finish).Should().Be(0, "a request turned away before the method ran is not counted");
        (await FinishAsync(portal, callId)).Status.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task The_admin_endpoint_aims_an_apply_then_drop_at_a_method_and_the_state_shows_it()
    {
        await using var portal = await Portal.StartAsync();
        var callId = await RegisterAsync(portal);
        using (var set = await portal.Http.PostAsJsonAsync("emulator/faults", new { kind = "ApplyThenDrop", count = 1, method = Finish }))
        {
            set.StatusCode.Should().Be(HttpStatusCode.OK);
        }

        (await portal.CallAsync("app.info")).Status.Should().Be(HttpStatusCode.OK);
        await FluentActions.Awaiting(() => FinishAsync(portal, callId)).Should().ThrowAsync<HttpRequestException>();

        using var response = await portal.Http.GetAsync("emulator/state");
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var last = doc.RootElement.GetProperty("requests").EnumerateArray().Last();
        last.GetProperty("fault").GetString().Should().Be("ApplyThenDrop");
        last.GetProperty("status").GetInt32().Should().Be(200);
        last.GetProperty("callId").GetString().Should().Be(callId);
    }

    [Fact]
    public async Task State_and_port_survive_a_stop_and_start_and_a_client_is_refused_in_between()
    {
        await using var portal = await Portal.StartAsync();
        var callId = await RegisterAsync(portal);
        portal.Emulator.Faults.FailNext(1, FaultKind.ApplyThenDrop, Finish);
        await FluentActions.Awaiting(() => FinishAsync(portal, callId)).Should().ThrowAsync<HttpRequestException>();
        var address = portal.Emulator.BaseAddress;
        var logged = portal.Emulator.State.RequestLog.Count;

        await portal.Emulator.StopAsync();
        portal.Emulator.IsRunning.Should().BeFalse();
        using (var fresh = new HttpClient { BaseAddress = address })
        {
            var refused = await FluentActions.Awaiting(() => fresh.GetAsync("rest/app.info")).Should().ThrowAsync<HttpRequestException>();
            refused.Which.InnerException.Should().BeOfType<SocketException>()
                .Which.SocketErrorCode.Should().Be(SocketError.ConnectionRefused);
        }

        await portal.Emulator.StartAsync();
        portal.Emulator.BaseAddress.Should().Be(address);
        portal.Emulator.State.FindCall(callId)!.Finished.Should().BeTrue();
        portal.Emulator.State.RequestLog.Should().HaveCount(logged);
        portal.Emulator.State.RequestsFor(callId, Finish).Should().Be(1);

        // The token issued before the stop still works, and the retry meets the finished call.
        (await FinishAsync(portal, callId)).Description.Should().Be(CallNotFound);
        portal.Emulator.State.RequestsFor(callId, Finish).Should().Be(2);
    }
}
