using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Switchboard.Bitrix24.Events;
using Switchboard.Bitrix24.Rest;
using Switchboard.Calls;
using Switchboard.Emulator;
using Switchboard.Hosting;
using Switchboard.Outbox;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Durability;

/// <summary>
/// Issue 18, item 7: commands claimed by a process that died are sent again within seconds, not after
/// the ten-minute lease. SQLite: the restarted server releases its dead predecessor's claims at start.
/// PostgreSQL: a running instance releases a dead one's claims once its heartbeat lapses.
/// </summary>
[Collection(CrashTestGroup.Name)]
public sealed class ClaimReleaseTests : IAsyncLifetime
{
    private readonly TempDirectory _temp = new();
    private PortalEmulator _emulator = null!;

    public async Task InitializeAsync()
    {
        _emulator = new PortalEmulator(new EmulatorOptions { Url = "http://127.0.0.1:0" });
        await _emulator.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _emulator.DisposeAsync();
        _temp.Dispose();
    }

    [Fact]
    public async Task A_SQLite_server_killed_while_it_holds_claims_has_them_sent_within_seconds_of_its_restart()
    {
        // The default lease: ten minutes.
        var args = PortalLab.Arguments(_emulator, "--data", _temp.Path);
        await using var outbox = new SqliteOutboxStore(Path.Combine(_temp.Path, "ledger.db"));
        var server = await ServerProcess.StartAsync(args);
        try
        {
            var callId = await HoldAFinishAsync(server, outbox, () => new SqliteCallStore(outbox));
            server.Kill();
            _emulator.Faults.Clear();

            server = await ServerProcess.StartAsync(args);
            await PortalLab.WaitUntilAsync(async () => await FinishStatusAsync(outbox) == OutboxStatus.Done,
                "the restarted server has sent the dead one's claimed finish", TimeSpan.FromSeconds(15));
            _emulator.State.FindCall(callId)!.Finished.Should().BeTrue();
            (await outbox.ListAsync(null, 10, default)).Single(e => e.Kind == OutboxKinds.Finish).Attempts.Should().Be(0, "a released claim is not a failed attempt");
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task On_PostgreSQL_instance_A_claims_and_dies_and_instance_B_releases_its_claims_once_A_heartbeat_lapses()
    {
        var db = new PostgresDatabase();
        await db.InitializeAsync();
        try
        {
            var args = PortalLab.Arguments(_emulator, "--postgres", db.ConnectionString, $"--Switchboard:Store:KeyRingDirectory={Path.Combine(_temp.Path, "keys")}");
            await using var outbox = new PostgresOutboxStore(db.ConnectionString);
            var a = await ServerProcess.StartAsync(args);
            ServerProcess? b = null;
            try
            {
                await HoldAFinishAsync(a, outbox, () => new PostgresCallStore(db.ConnectionString, outbox));
                _emulator.Faults.Clear();
                b = await ServerProcess.StartAsync(args);
                a.Kill();

                // A's last heartbeat lapses 15 s after it; B looks every 3 s. The lease is ten minutes.
                await PortalLab.WaitUntilAsync(async () => await FinishStatusAsync(outbox) == OutboxStatus.Done,
                    "instance B has sent the finish dead instance A claimed", TimeSpan.FromSeconds(40));
                var finish = (await outbox.ListAsync(null, 10, default)).Single(e => e.Kind == OutboxKinds.Finish);
                finish.Attempts.Should().Be(0);
                b.HasExited.Should().BeFalse();
            }
            finally
            {
                await a.DisposeAsync();
                if (b is not null)
                {
                    await b.DisposeAsync();
                }
            }
        }
        finally
        {
            await db.DisposeAsync();
        }
    }

    [Fact]
    public async Task On_PostgreSQL_an_instance_that_keeps_beating_keeps_its_claims_and_one_that_stops_loses_them_after_the_lapse()
    {
        var db = new PostgresDatabase();
        await db.InitializeAsync();
        try
        {
            await using var store = new PostgresOutboxStore(db.ConnectionString);
            await store.InitializeAsync(default);
            var time = new ManualTime(DateTimeOffset.UtcNow);
            var clock = new StoreClock(store, time, NullLogger<StoreClock>.Instance);
            using var signal = new WorkSignal();
            var a = Heartbeat(store, clock, signal, time, "instance-a");
            var b = Heartbeat(store, clock, signal, time, "instance-b");
            await a.StartInstanceAsync(default);
            await b.StartInstanceAsync(default);
            var now = await clock.NowAsync(default);
            await store.EnqueueAsync([.. Enumerable.Range(1, 3).Select(i => new OutboxItem(OutboxKinds.Finish, $"k{i}", "m1", "{}", now))], default);
            (await store.ClaimAsync("instance-a", 10, TimeSpan.FromMinutes(10), now, default)).Should().HaveCount(3);

            // Thirty seconds of beats (two lapses), A's among them: B releases nothing. (All within a minute: the clock measures its offset to the database again after one.)
            for (var i = 0; i < 10; i++)
            {
                time.Advance(TimeSpan.FromSeconds(3));
                await a.BeatAsync(default);
                (await b.BeatAsync(default)).Should().Be(0);
            }

            (await store.ListAsync(OutboxStatus.Claimed, 10, default)).Should().HaveCount(3).And.OnlyContain(e => e.ClaimedBy == "instance-a");

            // A stops. Within the lapse its claims stay; past it, B's next beat releases them.
            time.Advance(TimeSpan.FromSeconds(12));
            (await b.BeatAsync(default)).Should().Be(0);
            time.Advance(TimeSpan.FromSeconds(4));
            (await b.BeatAsync(default)).Should().Be(3);
            var pending = await store.ListAsync(OutboxStatus.Pending, 10, default);
            pending.Should().HaveCount(3).And.OnlyContain(e => e.ClaimedBy == null && e.Attempts == 0);
            (await store.ClaimAsync("instance-b", 10, TimeSpan.FromMinutes(10), await clock.NowAsync(default), default)).Should().HaveCount(3);
            (await store.ListInstancesAsync(default)).Select(x => x.Instance.WorkerId).Should().Equal("instance-b");
        }
        finally
        {
            await db.DisposeAsync();
        }
    }

    private static OutboxHeartbeat Heartbeat(SqlOutboxStore store, StoreClock clock, WorkSignal signal, TimeProvider time, string workerId) =>
        new(store, Options.Create(new OutboxOptions { WorkerId = workerId }), new StoresReady(), clock, signal, time, NullLogger<OutboxHeartbeat>.Instance);

    private static async Task<OutboxStatus?> FinishStatusAsync(IOutboxStore outbox) =>
        (await outbox.ListAsync(null, 10, default)).SingleOrDefault(e => e.Kind == OutboxKinds.Finish)?.Status;

    /// <summary>Installs, starts a call, and ends it while the portal holds its answer to the finish: the server holds the claim.</summary>
    private async Task<string> HoldAFinishAsync(ServerProcess server, IOutboxStore outbox, Func<SqlCallStore> openCalls)
    {
        var handler = new Uri(server.BaseAddress, "/bitrix24/events");
        (await _emulator.SendInstallAsync(handler)).Deliveries.Single().Status.Should().Be(200, server.Output);
        using (var admin = _emulator.CreateAdmin())
        {
            (await new PortalClient(admin.Client).BindEventAsync(_emulator.Options.MemberId, "ONEXTERNALCALLSTART", handler)).IsSuccess.Should().BeTrue();
        }

        var callId = (await _emulator.SendClickToCallAsync(new ClickToCall { UserId = 1 })).CallId!;
        await using var calls = openCalls();
        await PortalLab.WaitUntilAsync(async () => await calls.GetAsync(callId, default) is not null, "the ledger has the call");

        _emulator.Faults.Delay = TimeSpan.FromSeconds(60);
        _emulator.Faults.FailNext(1, FaultKind.ApplyThenDelay, "batch");
        (await calls.ApplyAsync(new ManualFinish(callId, CallStatusCode.Success, TimeSpan.FromSeconds(17), DateTimeOffset.UtcNow), DateTimeOffset.UtcNow, default)).Should().NotBeNull();
        await PortalLab.WaitUntilAsync(async () => await FinishStatusAsync(outbox) == OutboxStatus.Claimed, "the server holds the finish");
        return callId;
    }
}
