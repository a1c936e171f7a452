using System.Globalization;
using System.Net;
using System.Text.Json;
using Switchboard.AsteriskEmulator;
using Switchboard.Bitrix24.Rest;
using Switchboard.Calls;
using Switchboard.Emulator;
using Switchboard.Outbox;
using Switchboard.Pbx;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Durability;

/// <summary>
/// A phone never rings twice for one click and a call is never left open or finished twice, whatever
/// crashes happen: Switchboard as a real child process, killed with SIGKILL,
/// the portal emulator and the Asterisk emulator on loopback sockets.
/// </summary>
[Collection(CrashTestGroup.Name)]
public sealed class PbxCrashTests : IAsyncLifetime
{
    private readonly TempDirectory _temp = new();
    private PortalEmulator _portal = null!;
    private EmulatedAsterisk _asterisk = null!;

    public async Task InitializeAsync()
    {
        _portal = new PortalEmulator(new EmulatorOptions { Url = "http://127.0.0.1:0" });
        await _portal.StartAsync();
        _asterisk = new EmulatedAsterisk(new AsteriskEmulatorOptions
        {
            Port = ServerProcess.FreePort(),
            Speed = PbxLab.Speed,
            RecordingDirectory = Path.Combine(_temp.Path, "recordings"),
            // Long enough to kill and restart a server in the middle of the talk.
            Phones = { ["101"] = PartyBehaviour.Answers(1, 200) },
            DefaultCustomer = PartyBehaviour.Answers(1, 150, tone: "440"),
        });
        Directory.CreateDirectory(_asterisk.Options.RecordingDirectory!);
        await _asterisk.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _asterisk.DisposeAsync();
        await _portal.DisposeAsync();
        _temp.Dispose();
    }

    [Fact]
    public async Task A_server_killed_between_writing_the_Originate_and_reading_its_answer_rings_the_phone_once_and_finishes_the_call_once()
    {
        using var tap = new AmiTap(new IPEndPoint(IPAddress.Loopback, _asterisk.Port)) { SwallowAnswersAfterOriginate = true };
        var port = ServerProcess.FreePort();
        var args = Arguments(tap.Port, "--data", Path.Combine(_temp.Path, "data"), $"--Switchboard:PublicUrl=http://127.0.0.1:{port}/");
        var server = await ServerProcess.StartOnAsync(port, args);
        try
        {
            await using var outbox = new SqliteOutboxStore(Path.Combine(_temp.Path, "data", "ledger.db"));
            await using var calls = new SqliteCallStore(outbox);
            await InstallAsync(server, outbox);
            await PbxConnectedAsync(calls);

            var callId = (await _portal.SendClickToCallAsync(new ClickToCall { UserId = 2, PhoneNumber = "+14155551234" })).CallId!;
            await PortalLab.WaitUntilAsync(() => tap.Originates == 1, "the Originate went out");
            await PortalLab.WaitUntilAsync(() => _asterisk.Channels().Any(c => c.Linkedid == CallTracker.PbxCallIdFor(callId)), "Asterisk placed the call");
            server.Kill();

            tap.SwallowAnswersAfterOriginate = false;
            server = await ServerProcess.StartOnAsync(port, args);
            await PbxConnectedAsync(calls);
            // The restarted server follows the call it found on the PBX; then the customer hangs up.
            await PortalLab.WaitUntilAsync(() => _asterisk.Channels().Count(c => c.Linkedid == CallTracker.PbxCallIdFor(callId)) >= 3, "the customer is on the line");
            _asterisk.HangupChannels(CallTracker.PbxCallIdFor(callId)).Should().BeGreaterThan(0);

            await PortalLab.WaitUntilAsync(() => _portal.State.FindCall(callId)?.Finished == true, "the call is finished at the portal", TimeSpan.FromSeconds(40));
            var finish = _portal.State.FindCall(callId)!.FinishParameters!;
            finish["STATUS_CODE"].Should().Be("200", finish.GetValueOrDefault("FAILED_REASON") + "\n" + server.Output);
            finish["USER_ID"].Should().Be("2");
            tap.Originates.Should().Be(1, "the phone rang once");
            _portal.State.RequestsFor(callId, "telephony.externalCall.finish").Should().Be(1);
            (await calls.GetAsync(callId, default))!.Record.OriginateAttempts.Items.Should().ContainSingle();
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task On_PostgreSQL_the_instance_holding_the_PBX_dies_mid_call_and_another_takes_over_within_fifteen_seconds_and_finishes_it()
    {
        var db = new PostgresDatabase();
        await db.InitializeAsync();
        try
        {
            var args = Arguments(_asterisk.Port, "--postgres", db.ConnectionString, $"--Switchboard:Store:KeyRingDirectory={Path.Combine(_temp.Path, "keys")}");
            await using var outbox = new PostgresOutboxStore(db.ConnectionString);
            await using var calls = new PostgresCallStore(db.ConnectionString, outbox);
            // Bitrix24 posts events to A; B is the standby that takes the PBX over.
            var port = ServerProcess.FreePort();
            var a = await ServerProcess.StartOnAsync(port, [.. args, $"--Switchboard:PublicUrl=http://127.0.0.1:{port}/"]);
            ServerProcess? b = null;
            try
            {
                await InstallAsync(a, outbox);
                await PbxConnectedAsync(calls);
                b = await ServerProcess.StartAsync([.. args, $"--Switchboard:PublicUrl=http://127.0.0.1:{port}/"]);

                var callId = (await _portal.SendClickToCallAsync(new ClickToCall { UserId = 2, PhoneNumber = "+14155551234" })).CallId!;
                await PortalLab.WaitUntilAsync(async () => (await calls.GetAsync(callId, default))?.Record.AnsweredAt is not null, "the customer answered", TimeSpan.FromSeconds(30));
                var holder = (await calls.ListPbxLeasesAsync(default)).Single().Holder;
                var (dying, surviving) = holder.EndsWith(":" + a.ProcessId.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal) ? (a, b) : (b, a);
                dying.Kill();
                var killedAt = DateTime.UtcNow;

                await PortalLab.WaitUntilAsync(async () => (await calls.ListPbxLeasesAsync(default)).Single() is { } l && l.Holder != holder && l.LeaseUntil > DateTimeOffset.UtcNow,
                    "the other instance holds the PBX", TimeSpan.FromSeconds(20));
                (DateTime.UtcNow - killedAt).Should().BeLessThan(TimeSpan.FromSeconds(15));

                await PortalLab.WaitUntilAsync(() => _portal.State.FindCall(callId)?.Finished == true, "the call is finished at the portal", TimeSpan.FromSeconds(40));
                var finish = _portal.State.FindCall(callId)!.FinishParameters!;
                finish["STATUS_CODE"].Should().Be("200", surviving.Output);
                finish["USER_ID"].Should().Be("2");
                _portal.State.RequestsFor(callId, "telephony.externalCall.finish").Should().Be(1);
                // The recording began under the dead instance; the survivor attaches it once the call is over.
                await PortalLab.WaitUntilAsync(() => _portal.State.Recordings.Any(r => r.CallId == callId), "the recording is attached", TimeSpan.FromSeconds(20));
                surviving.HasExited.Should().BeFalse();
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

    private string[] Arguments(int amiPort, params string[] store) => PortalLab.Arguments(_portal,
    [
        .. store,
        "--Switchboard:Pbx:Asterisk:lab:Host=127.0.0.1",
        $"--Switchboard:Pbx:Asterisk:lab:Port={amiPort}",
        $"--Switchboard:Pbx:Asterisk:lab:Username={_asterisk.Options.Username}",
        $"--Switchboard:Pbx:Asterisk:lab:Secret={_asterisk.Options.Secret}",
        "--Switchboard:Pbx:Asterisk:lab:OriginateChannel=Local/{extension}@phones",
        "--Switchboard:Pbx:Asterisk:lab:RecordingSettleTime=00:00:00.300",
    ]);

    private async Task InstallAsync(ServerProcess server, IOutboxStore outbox)
    {
        var handler = new Uri(server.BaseAddress, "/bitrix24/events");
        (await _portal.SendInstallAsync(handler)).Deliveries.Single().Status.Should().Be(200, server.Output);
        using var admin = _portal.CreateAdmin();
        (await new PortalClient(admin.Client).BindEventAsync(_portal.Options.MemberId, "ONEXTERNALCALLSTART", handler)).IsSuccess.Should().BeTrue();
        // The users' extensions come with the install's set-up.
        try
        {
            await PortalLab.WaitUntilAsync(async () => (await outbox.ListAsync(null, 100, default)).Any(e => e.Kind == OutboxKinds.PortalSetup && e.Status == OutboxStatus.Done),
                "the set-up loaded the users", TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException("The set-up did not finish: " + string.Join("; ", (await outbox.ListAsync(null, 100, default)).Select(e => $"{e.Kind} {e.Status} {e.LastError}")) + "\n" + server.Output);
        }
    }

    private static Task PbxConnectedAsync(SqlCallStore calls) =>
        PortalLab.WaitUntilAsync(async () => (await calls.ListPbxLeasesAsync(default)).SingleOrDefault()?.Status is { } status
            && JsonSerializer.Deserialize<PbxStatusReport>(status, PbxJson.Options)!.State == PbxState.Connected, "the PBX is connected", TimeSpan.FromSeconds(30));
}
