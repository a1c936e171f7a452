using Microsoft.Extensions.DependencyInjection;
using Switchboard.Bitrix24.Events;
using Switchboard.Bitrix24.Rest;
using Switchboard.Calls;
using Switchboard.Emulator;
using Switchboard.Outbox;
using Switchboard.Tests.Cli;
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
        // A PBX that does not answer: the click's originate waits for it.
        await using var lab = await PortalLab.StartAsync(settings: PortalLab.UnreachablePbx());
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

        // The click asks the PBX to originate; the PBX is unreachable, so the command waits for it.
        var outbox = lab.Server.Services.GetRequiredService<IOutboxStore>();
        var originate = (await outbox.ListAsync(null, 100, default)).Single(e => e.Kind == OutboxKinds.Originate);
        originate.Status.Should().BeOneOf([OutboxStatus.Pending, OutboxStatus.Claimed], "it waits (deferred while the PBX is unreachable), it is not done");
        originate.Key.Should().Be(callId[(callId.LastIndexOf('.') + 1)..] + "/originate:" + callId + "@" + lab.MemberId, "the call's registration second first (CallKey.OutboxKey)");

        var finished = await calls.ApplyAsync(new ManualFinish(callId, CallStatusCode.Success, TimeSpan.FromSeconds(42.7), DateTimeOffset.UtcNow), DateTimeOffset.UtcNow, default);
        finished!.Value.NewCommands.Should().ContainSingle(c => c is FinishCall);

        await PortalLab.WaitUntilAsync(() => lab.Emulator.State.FindCall(callId)?.Finished == true, "the emulator has the call finished");
        var parameters = lab.Emulator.State.FindCall(callId)!.FinishParameters!;
        parameters["USER_ID"].Should().Be("1");
        parameters["DURATION"].Should().Be("42");
        parameters["STATUS_CODE"].Should().Be("200");

        await PortalLab.WaitUntilAsync(async () => (await outbox.ListAsync(OutboxStatus.Done, 100, default)).Any(e => e.Key.Contains("/finish:" + callId + "@", StringComparison.Ordinal)), "the finish is done in the outbox");
        // One batch request carried it.
        lab.Emulator.State.RequestLog.Count(r => r.Method == "batch").Should().Be(1);
        var metrics = await lab.Server.Client.GetStringAsync("/metrics");
        metrics.Should().Contain("switchboard_outbox_commands_total{kind=\"bitrix24.finish\",outcome=\"done\"} 1")
            .And.Contain("switchboard_ledger_events_total");
    }

    [Fact]
    public async Task A_finish_with_no_known_user_dies_with_advice_and_calls_finish_user_then_outbox_retry_sends_it()
    {
        await using var lab = await PortalLab.StartAsync();
        var outbox = lab.Server.Services.GetRequiredService<IOutboxStore>();
        await PortalLab.WaitForSetupAsync(lab.Server, 1); // the install flow bound the handlers

        // A call Bitrix24 knows, of which the ledger has only an INIT: no owner, no answering user.
        using var admin = lab.Emulator.CreateAdmin();
        var callId = (await admin.RegisterCallsAsync(1)).Single();
        (await lab.Emulator.SendCallInitAsync(callId)).Deliveries.Should().OnlyContain(d => d.Status == 200);
        var calls = lab.Server.Services.GetRequiredService<SqlCallStore>();
        await PortalLab.WaitUntilAsync(async () => await calls.GetAsync(callId, default) is not null, "the ledger has the call");
        var data = lab.Server.DataDirectory!;

        (await CliRun.RunAsync("calls", "finish", callId, "--status", "304", "--data", data)).ExitCode.Should().Be(0);
        await PortalLab.WaitUntilAsync(async () => (await outbox.ListAsync(OutboxStatus.Dead, 10, default)).Any(e => e.Key.Contains("/finish:" + callId + "@", StringComparison.Ordinal)), "the finish is dead");
        var dead = (await outbox.ListAsync(OutboxStatus.Dead, 10, default)).Single(e => e.Key.Contains("/finish:" + callId + "@", StringComparison.Ordinal));
        dead.LastError.Should().Contain("--user").And.Contain("outbox retry " + dead.Id);
        lab.Emulator.State.RequestsFor(callId, "telephony.externalCall.finish").Should().Be(0, "nothing was sent without a user");

        (await CliRun.RunAsync("calls", "finish", callId, "--status", "304", "--user", "3", "--data", data)).Output.Should().Contain("outbox retry");
        (await CliRun.RunAsync("outbox", "retry", dead.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--data", data)).ExitCode.Should().Be(0);

        await PortalLab.WaitUntilAsync(() => lab.Emulator.State.FindCall(callId)?.Finished == true, "the call is finished in Bitrix24");
        lab.Emulator.State.FindCall(callId)!.FinishParameters!["USER_ID"].Should().Be("3");
        lab.Emulator.State.FindCall(callId)!.FinishParameters!["STATUS_CODE"].Should().Be("304");
    }

    [Fact]
    public async Task A_command_whose_claims_keep_running_out_is_dead_lettered_instead_of_taken_forever()
    {
        await using var server = await SwitchboardServer.StartAsync(settings: new Dictionary<string, string?> { ["Switchboard:Outbox:Enabled"] = "false" });
        var outbox = server.Services.GetRequiredService<IOutboxStore>();
        var t0 = DateTimeOffset.UtcNow.AddHours(-1);
        await outbox.EnqueueAsync([new OutboxItem(OutboxKinds.Show, "show:c1:7@m1", "m1", """{"callId":"c1","userId":7}""", t0)], default);

        // Eleven workers took it and died before reporting (MaxAttempts is 10): their leases ran out.
        for (var i = 0; i < 11; i++)
        {
            (await outbox.ClaimAsync("crashed-" + i, 10, TimeSpan.FromSeconds(1), t0.AddSeconds(2 * i), default)).Should().ContainSingle();
        }

        (await server.Services.GetRequiredService<OutboxWorker>().PassAsync(default)).Should().Be(1);

        var dead = (await outbox.ListAsync(OutboxStatus.Dead, 10, default)).Should().ContainSingle().Subject;
        dead.Claims.Should().Be(12);
        dead.LastError.Should().Contain("without an outcome");
    }
}
