using Switchboard.Bitrix24.Events;
using Switchboard.Bitrix24.Rest;
using Switchboard.Calls;
using Switchboard.Emulator;
using Switchboard.Outbox;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Durability;

/// <summary>
/// The outbox with Switchboard as real child processes: killed between a remote success and its local
/// "done", and two processes sharing one PostgreSQL outbox.
/// </summary>
public sealed class OutboxProcessTests : IAsyncLifetime
{
    private const string Finish = "telephony.externalCall.finish";

    private readonly PostgresDatabase _db = new();
    private PortalEmulator _emulator = null!;

    public async Task InitializeAsync()
    {
        await _db.InitializeAsync();
        _emulator = new PortalEmulator(new EmulatorOptions { Url = "http://127.0.0.1:0" });
        await _emulator.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _emulator.DisposeAsync();
        await _db.DisposeAsync();
    }

    [Fact]
    public async Task SIGKILL_after_the_portal_finished_the_call_but_before_done_does_not_finish_it_twice()
    {
        using var data = new TempDirectory();
        var path = Path.Combine(data.Path, "ledger.db");
        // A short lease, so the restarted server takes the dead one's claim back soon.
        var args = PortalLab.Arguments(_emulator, "--data", data.Path, "--Switchboard:Outbox:Lease=00:00:02");
        var server = await ServerProcess.StartAsync(args);
        try
        {
            var handler = new Uri(server.BaseAddress, "/bitrix24/events");
            (await _emulator.SendInstallAsync(handler)).Deliveries.Single().Status.Should().Be(200);
            using (var admin = _emulator.CreateAdmin())
            {
                (await new PortalClient(admin.Client).BindEventAsync(_emulator.Options.MemberId, "ONEXTERNALCALLSTART", handler)).IsSuccess.Should().BeTrue();
            }

            var callId = (await _emulator.SendClickToCallAsync(new ClickToCall { UserId = 1 })).CallId!;
            await using var outbox = new SqliteOutboxStore(path);
            await using var calls = new SqliteCallStore(outbox);
            await PortalLab.WaitUntilAsync(async () => await calls.GetAsync(callId, default) is not null, "the ledger has the call");

            // The portal will finish the call and then hold its answer; the server waits for it and is killed.
            _emulator.Faults.Delay = TimeSpan.FromSeconds(60);
            _emulator.Faults.FailNext(1, FaultKind.ApplyThenDelay, "batch");
            (await calls.ApplyAsync(new ManualFinish(callId, CallStatusCode.Success, TimeSpan.FromSeconds(17), DateTimeOffset.UtcNow), DateTimeOffset.UtcNow, default)).Should().NotBeNull();
            await PortalLab.WaitUntilAsync(() => _emulator.State.FindCall(callId)?.Finished == true, "the portal has finished the call");
            (await outbox.ListAsync(null, 10, default)).Single(e => e.Kind == OutboxKinds.Finish).Status.Should().Be(OutboxStatus.Claimed, "the server has not heard back");

            server.Kill();
            _emulator.Faults.Clear();
            server = await ServerProcess.StartAsync(args);

            await PortalLab.WaitUntilAsync(async () => (await outbox.ListAsync(null, 10, default)).Single(e => e.Kind == OutboxKinds.Finish).Status == OutboxStatus.Done,
                "the restarted server has the finish done", TimeSpan.FromSeconds(30));
            _emulator.State.RequestsFor(callId, Finish).Should().Be(2, "sent again after the restart, since the first answer never arrived");
            _emulator.State.FindCall(callId)!.FinishParameters!["DURATION"].Should().Be("17", "the call was finished once, by the first request");
            _emulator.State.RequestLog.Where(r => r.CallId == callId && r.Method.Equals(Finish, StringComparison.OrdinalIgnoreCase))
                .Select(r => r.Error).Should().Equal(null, "ERROR_CORE");
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task Two_processes_on_one_PostgreSQL_database_drain_a_shared_outbox_of_1000_finishes_each_sent_once()
    {
        const int Count = 1000;
        var args = PortalLab.Arguments(_emulator, "--postgres", _db.ConnectionString);

        // Install through one server, then stop it: the portal and its tokens are in the database.
        await using (var installer = await ServerProcess.StartAsync(args))
        {
            (await _emulator.SendInstallAsync(new Uri(installer.BaseAddress, "/bitrix24/events"))).Deliveries.Single().Status.Should().Be(200);
        }

        // 1,000 calls at the portal and in the ledger, each ended: 1,000 finish commands waiting.
        using var admin = _emulator.CreateAdmin();
        var callIds = await admin.RegisterCallsAsync(Count);
        await using (var outbox = new PostgresOutboxStore(_db.ConnectionString))
        await using (var calls = new PostgresCallStore(_db.ConnectionString, outbox))
        {
            await Parallel.ForEachAsync(callIds, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (id, ct) =>
            {
                var now = DateTimeOffset.UtcNow;
                await calls.ApplyAsync(new CallRegistered(id, _emulator.Options.MemberId, null, CallDirection.Outgoing, "+14150000000", null, 1, null, now), now, ct);
                await calls.ApplyAsync(new ManualFinish(id, CallStatusCode.Success, TimeSpan.FromSeconds(3), now), now, ct);
            });
            (await outbox.ListAsync(OutboxStatus.Pending, Count + 10, default)).Count(e => e.Kind == OutboxKinds.Finish).Should().Be(Count);
        }

        // Each batch answer takes a while, so both processes are at work at the same time.
        _emulator.Faults.Delay = TimeSpan.FromMilliseconds(250);
        _emulator.Faults.FailNext(Count / 50, FaultKind.Delay, "batch");
        var servers = await Task.WhenAll(ServerProcess.StartAsync(args), ServerProcess.StartAsync(args));
        try
        {
            await using var outbox = new PostgresOutboxStore(_db.ConnectionString);
            await PortalLab.WaitUntilAsync(async () => (await outbox.ListAsync(OutboxStatus.Done, Count + 10, default)).Count(e => e.Kind == OutboxKinds.Finish) == Count,
                "all finishes are done", TimeSpan.FromSeconds(120));

            callIds.Should().OnlyContain(id => _emulator.State.RequestsFor(id, Finish) == 1, "each finish was sent exactly once");
            callIds.Should().OnlyContain(id => _emulator.State.FindCall(id)!.Finished);
            var done = (await outbox.ListAsync(OutboxStatus.Done, Count + 10, default)).Where(e => e.Kind == OutboxKinds.Finish);
            done.Select(e => e.ClaimedBy).Distinct().Should().HaveCount(2, "both processes sent a share");
            servers.Should().OnlyContain(s => !s.HasExited);
        }
        finally
        {
            foreach (var s in servers)
            {
                await s.DisposeAsync();
            }
        }
    }
}
