using Microsoft.Extensions.DependencyInjection;
using Switchboard.Bitrix24.Events;
using Switchboard.Bitrix24.Rest;
using Switchboard.Calls;
using Switchboard.Emulator;
using Switchboard.Outbox;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Outbox;

/// <summary>
/// RELIABILITY promise 7 over real HTTP: a portal that is down, or that did the work but whose answer
/// was lost, delays a report but never loses or doubles it.
/// </summary>
public sealed class OutboxDeliveryTests
{
    private const string Finish = "telephony.externalCall.finish";

    [Fact]
    public async Task With_the_portal_down_for_a_while_every_finish_arrives_once_when_it_is_back()
    {
        await using var lab = await PortalLab.StartAsync(settings: PortalLab.UnreachablePbx());
        var callIds = await ClickToCallsAsync(lab, 20);

        await lab.Emulator.StopAsync();
        var calls = lab.Server.Services.GetRequiredService<SqlCallStore>();
        foreach (var id in callIds)
        {
            await calls.ApplyAsync(new ManualFinish(id, CallStatusCode.Success, TimeSpan.FromSeconds(30), DateTimeOffset.UtcNow), DateTimeOffset.UtcNow, default);
        }

        // Every finish met the closed port at least once and is waiting for its next attempt.
        var outbox = lab.Server.Services.GetRequiredService<IOutboxStore>();
        await PortalLab.WaitUntilAsync(async () => (await Finishes(outbox)).Count(e => e.Attempts >= 1) == callIds.Count,
            "every finish has failed at least once", TimeSpan.FromSeconds(60));
        (await Finishes(outbox)).Should().OnlyContain(e => e.Status != OutboxStatus.Done);

        await lab.Emulator.StartAsync();
        await PortalLab.WaitUntilAsync(async () => (await Finishes(outbox)).All(e => e.Status == OutboxStatus.Done),
            "every finish is done", TimeSpan.FromSeconds(60));

        foreach (var id in callIds)
        {
            lab.Emulator.State.FindCall(id)!.Finished.Should().BeTrue();
            lab.Emulator.State.RequestsFor(id, Finish).Should().Be(1, "a request refused at connect never reached the portal, and the one that did was the only one");
        }
    }

    [Fact]
    public async Task A_finish_whose_answer_was_lost_is_not_finished_twice_and_counts_as_done()
    {
        await using var lab = await PortalLab.StartAsync(settings: PortalLab.UnreachablePbx());
        var callId = (await ClickToCallsAsync(lab, 1)).Single();

        // The portal finishes the call, then the connection drops before the answer (RELIABILITY "lost answer").
        lab.Emulator.Faults.FailNext(1, FaultKind.ApplyThenDrop, "batch");
        var calls = lab.Server.Services.GetRequiredService<SqlCallStore>();
        await calls.ApplyAsync(new ManualFinish(callId, CallStatusCode.Busy, TimeSpan.Zero, DateTimeOffset.UtcNow), DateTimeOffset.UtcNow, default);

        var outbox = lab.Server.Services.GetRequiredService<IOutboxStore>();
        await PortalLab.WaitUntilAsync(async () => (await Finishes(outbox)).Single().Status == OutboxStatus.Done, "the finish is done");

        // Sent twice (the first answer never came), finished once: the repeat met "Call is not found".
        lab.Emulator.State.RequestsFor(callId, Finish).Should().Be(2);
        var call = lab.Emulator.State.FindCall(callId)!;
        call.Finished.Should().BeTrue();
        call.FinishParameters!["STATUS_CODE"].Should().Be("486");
        lab.Emulator.State.RequestLog.Where(r => r.CallId == callId && r.Method.Equals(Finish, StringComparison.OrdinalIgnoreCase))
            .Select(r => r.Error).Should().Equal(null, "ERROR_CORE");
    }

    [Theory]
    [InlineData(FaultKind.InternalServerError)]
    [InlineData(FaultKind.QueryLimitExceeded)]
    [InlineData(FaultKind.DropConnection)]
    [InlineData(FaultKind.Delay)]
    public async Task A_finish_that_meets_a_fault_is_retried_and_the_call_is_finished_once(FaultKind fault)
    {
        // Delay: the portal answers after 3 s, the client gives up on an attempt after 1 s (a timeout).
        await using var lab = await PortalLab.StartAsync(settings: new Dictionary<string, string?>(PortalLab.UnreachablePbx())
        {
            ["Switchboard:Bitrix24:AttemptTimeout"] = "00:00:01",
            ["Switchboard:Bitrix24:BaseDelay"] = "00:00:00.100",
        });
        var callId = (await ClickToCallsAsync(lab, 1)).Single();
        lab.Emulator.Faults.Delay = TimeSpan.FromSeconds(3);
        lab.Emulator.Faults.FailNext(2, fault, "batch");
        var batchesBefore = lab.Emulator.State.RequestLog.Count(r => r.Method == "batch");

        var calls = lab.Server.Services.GetRequiredService<SqlCallStore>();
        var started = DateTime.UtcNow;
        await calls.ApplyAsync(new ManualFinish(callId, CallStatusCode.Success, TimeSpan.FromSeconds(9), DateTimeOffset.UtcNow), DateTimeOffset.UtcNow, default);

        var outbox = lab.Server.Services.GetRequiredService<IOutboxStore>();
        await PortalLab.WaitUntilAsync(async () => (await Finishes(outbox)).Single().Status == OutboxStatus.Done, "the finish is done", TimeSpan.FromSeconds(60));
        if (fault == FaultKind.Delay)
        {
            // Two attempts given up after 1 s each; the portal never saw them (the client hung up first).
            (DateTime.UtcNow - started).Should().BeGreaterThan(TimeSpan.FromSeconds(1.9));
        }
        else
        {
            // The faulted attempts reached the portal and were repeated.
            lab.Emulator.State.RequestLog.Count(r => r.Method == "batch").Should().BeGreaterThanOrEqualTo(batchesBefore + 3);
        }

        var call = lab.Emulator.State.FindCall(callId)!;
        call.Finished.Should().BeTrue();
        call.FinishParameters!["DURATION"].Should().Be("9");
        lab.Emulator.State.RequestLog.Count(r => r.CallId == callId && r.Method.Equals(Finish, StringComparison.OrdinalIgnoreCase) && r.Error is null)
            .Should().Be(1, "finished once; a repeat of a finish that took effect meets 'Call is not found'");
    }

    [Fact]
    public async Task Finishes_show_and_hide_for_many_calls_go_out_in_batches_of_at_most_fifty()
    {
        await using var lab = await PortalLab.StartAsync(settings: new Dictionary<string, string?>(PortalLab.UnreachablePbx()) { ["Switchboard:Outbox:BatchSize"] = "120" });
        var callIds = await ClickToCallsAsync(lab, 120);
        var batchesBefore = lab.Emulator.State.RequestLog.Count(r => r.Method == "batch");

        // Hold the worker's next pass until all 120 are queued, so they are claimed together.
        var calls = lab.Server.Services.GetRequiredService<SqlCallStore>();
        foreach (var id in callIds)
        {
            await calls.ApplyAsync(new ManualFinish(id, CallStatusCode.Success, TimeSpan.FromSeconds(5), DateTimeOffset.UtcNow), DateTimeOffset.UtcNow, default);
        }

        var outbox = lab.Server.Services.GetRequiredService<IOutboxStore>();
        await PortalLab.WaitUntilAsync(async () => (await Finishes(outbox)).Count(e => e.Status == OutboxStatus.Done) == 120, "all finishes done");
        callIds.Should().OnlyContain(id => lab.Emulator.State.RequestsFor(id, Finish) == 1);
        var batches = lab.Emulator.State.RequestLog.Count(r => r.Method == "batch") - batchesBefore;
        batches.Should().BeGreaterThanOrEqualTo(3, "120 commands need at least three requests of 50").And.BeLessThan(120, "they were batched");
    }

    private static async Task<IReadOnlyList<OutboxEntry>> Finishes(IOutboxStore outbox) =>
        [.. (await outbox.ListAsync(null, 10_000, default)).Where(e => e.Kind == OutboxKinds.Finish)];

    /// <summary>Binds the click-to-call event and clicks <paramref name="count"/> numbers; returns the CALL_IDs once the ledger has them.</summary>
    internal static async Task<IReadOnlyList<string>> ClickToCallsAsync(PortalLab lab, int count)
    {
        var portal = lab.Server.Services.GetRequiredService<PortalClient>();
        (await portal.BindEventAsync(lab.MemberId, "ONEXTERNALCALLSTART", lab.HandlerUrl)).IsSuccess.Should().BeTrue();
        var ids = new List<string>();
        for (var i = 0; i < count; i++)
        {
            var click = await lab.Emulator.SendClickToCallAsync(new ClickToCall { UserId = 1, PhoneNumber = "+1415555" + i.ToString("0000", System.Globalization.CultureInfo.InvariantCulture) });
            click.Deliveries.Single().Status.Should().Be(200);
            ids.Add(click.CallId!);
        }

        var calls = lab.Server.Services.GetRequiredService<SqlCallStore>();
        await PortalLab.WaitUntilAsync(async () => await calls.GetAsync(ids[^1], default) is not null, "the ledger has the calls");
        return ids;
    }
}
