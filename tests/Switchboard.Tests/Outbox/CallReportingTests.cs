using Microsoft.Extensions.DependencyInjection;
using Switchboard.Bitrix24.Events;
using Switchboard.Bitrix24.Rest;
using Switchboard.Calls;
using Switchboard.Emulator;
using Switchboard.Outbox;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Outbox;

/// <summary>
/// From a journalled event to a REST call at the portal: the ledger folds the event, the command it
/// causes is enqueued with it, the outbox worker sends it to the emulator over loopback HTTP.
/// </summary>
public sealed class CallReportingTests
{
    [Fact]
    public async Task A_click_to_call_finished_by_hand_is_finished_in_Bitrix24_with_the_ledger_s_arguments()
    {
        await using var lab = await PortalLab.StartAsync();
        var portal = lab.Server.Services.GetRequiredService<PortalClient>();
        (await portal.BindEventAsync(lab.MemberId, "ONEXTERNALCALLSTART", lab.HandlerUrl)).IsSuccess.Should().BeTrue();

        var click = await lab.Emulator.SendClickToCallAsync(new ClickToCall { UserId = 1 });
        click.Deliveries.Single().Status.Should().Be(200);
        var callId = click.CallId!;

        var calls = lab.Server.Services.GetRequiredService<SqlCallStore>();
        await PortalLab.WaitUntilAsync(async () => await calls.GetAsync(callId, default) is not null, "the ledger has the call");
        var stored = (await calls.GetAsync(callId, default))!.Record;
        stored.ClickToCall.Should().BeTrue();
        stored.UserId.Should().Be(1);
        stored.MemberId.Should().Be(lab.MemberId);

        // The click asks the PBX to originate; no PBX connector runs here, so the command waits for one.
        var outbox = lab.Server.Services.GetRequiredService<IOutboxStore>();
        var originate = (await outbox.ListAsync(null, 100, default)).Single(e => e.Kind == OutboxKinds.Originate);
        originate.Status.Should().Be(OutboxStatus.Pending);
        originate.Key.Should().Be("originate:" + callId);

        var finished = await calls.ApplyAsync(new ManualFinish(callId, CallStatusCode.Success, TimeSpan.FromSeconds(42.7), DateTimeOffset.UtcNow), DateTimeOffset.UtcNow, default);
        finished!.Value.NewCommands.Should().ContainSingle(c => c is FinishCall);

        await PortalLab.WaitUntilAsync(() => lab.Emulator.State.FindCall(callId)?.Finished == true, "the emulator has the call finished");
        var parameters = lab.Emulator.State.FindCall(callId)!.FinishParameters!;
        parameters["USER_ID"].Should().Be("1");
        parameters["DURATION"].Should().Be("42");
        parameters["STATUS_CODE"].Should().Be("200");

        await PortalLab.WaitUntilAsync(async () => (await outbox.ListAsync(OutboxStatus.Done, 100, default)).Any(e => e.Key == "finish:" + callId), "the finish is done in the outbox");
        // One batch request carried it.
        lab.Emulator.State.RequestLog.Count(r => r.Method == "batch").Should().Be(1);
        var metrics = await lab.Server.Client.GetStringAsync("/metrics");
        metrics.Should().Contain("switchboard_outbox_commands_total{kind=\"bitrix24.finish\",outcome=\"done\"} 1")
            .And.Contain("switchboard_ledger_events_total");
    }
}
