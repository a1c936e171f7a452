using System.Buffers.Binary;
using Switchboard.Asterisk.Wire;
using Switchboard.AsteriskEmulator.Tests.Support;
using Xunit.Abstractions;

namespace Switchboard.AsteriskEmulator.Tests;

/// <summary>
/// The scenarios no transcript covers, checked against what the Asterisk source says they emit
/// (apps/app_queue.c, main/bridge.c and stasis_bridges.c for transfers, app_dial.c for failures), and the
/// emulator's own promises: ChannelId, recordings, emulated time, PJSIP naming, restarts and drops.
/// </summary>
public sealed class OfficeScenarioTests(ITestOutputHelper output)
{
    private static (string, string)[] ClickToCall(string ext, string number, params (string, string)[] more) =>
        [("Channel", $"Local/{ext}@phones"), ("Context", "from-internal"), ("Exten", number), ("Priority", "1"), ("Async", "true"), .. more];

    private static List<AmiMessage> Named(RawAmiClient c, string name) => [.. c.Events.Where(e => e.EventName == name)];

    [Fact]
    public async Task Queue_answered_emits_join_called_connect_leave_and_complete_and_records_q_file()
    {
        await using var emulator = await Emulators.StartAsync(output: output);
        await using var client = await RawAmiClient.LoginAsync(emulator.Port);

        var call = emulator.StartInboundCall("+79161234567", "74951230001");
        await call.Ended.WaitAsync(TimeSpan.FromSeconds(20));
        await client.WaitForCallsToEndAsync();

        var names = client.Events.Select(e => e.EventName).Where(n => n!.StartsWith("Queue", StringComparison.Ordinal) || n.StartsWith("Agent", StringComparison.Ordinal)).ToList();
        names.Should().Equal("QueueCallerJoin", "AgentCalled", "AgentCalled", "QueueCallerLeave", "AgentConnect", "AgentComplete");
        var connect = Named(client, "AgentConnect").Single();
        connect["Queue"].Should().Be("sales");
        connect["MemberName"].Should().Be("Local/101@phones/n", "101 answers first (1 s against 2 s)");
        connect["DestChannel"].Should().StartWith("Local/101@phones-");
        Named(client, "AgentComplete").Single()["Reason"].Should().Be("agent", "101 hangs up after 6 s, the caller stays 40 s");
        Named(client, "DialEnd").Should().Contain(e => e["DestChannel"]!.StartsWith("Local/104@phones-", StringComparison.Ordinal) && e["DialStatus"] == "CANCEL");
        Named(client, "VarSet").Single(e => e["Variable"] == "MIXMONITOR_FILENAME")["Value"].Should().EndWith($"q-{call.Linkedid}.wav");
        client.Events.Where(e => e["Linkedid"] is not null).Should().OnlyContain(e => e["Linkedid"] == call.Linkedid);
    }

    [Fact]
    public async Task Queue_abandoned_when_the_caller_gives_up_before_any_member_answers()
    {
        await using var emulator = await Emulators.StartAsync(output: output);
        await using var client = await RawAmiClient.LoginAsync(emulator.Port);

        var call = emulator.StartInboundCall("+79160000008", "74951230003");
        await call.Ended.WaitAsync(TimeSpan.FromSeconds(20));
        await client.WaitForCallsToEndAsync();

        var abandon = Named(client, "QueueCallerAbandon").Single();
        abandon["Queue"].Should().Be("support");
        abandon["HoldTime"].Should().Be("8", "the caller gives up after 8 emulated seconds");
        Named(client, "AgentConnect").Should().BeEmpty();
        Named(client, "AgentCalled").Should().ContainSingle().Which["MemberName"].Should().Be("Local/103@phones/n");
        Named(client, "DialEnd").Should().Contain(e => e["DialStatus"] == "CANCEL" && e["DestChannel"]!.StartsWith("Local/103@phones-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Blind_transfer_moves_the_caller_to_the_target_who_answers_in_the_same_call()
    {
        await using var emulator = await Emulators.StartAsync(speed: 5, output: output);
        await using var client = await RawAmiClient.LoginAsync(emulator.Port);
        var call = emulator.StartInboundCall("+79161234567", "74951230002");
        await SessionTests.WaitUntilAsync(() => emulator.Channels().Count(c => c.BridgeId.Length > 0) == 2);

        var transfer = await client.ActionAsync("BlindTransfer", ("Channel", emulator.Channels().Last(c => c.BridgeId.Length > 0).Name), ("Exten", "104"), ("Context", "internal"));
        await call.Ended.WaitAsync(TimeSpan.FromSeconds(30));
        await client.WaitForCallsToEndAsync();

        transfer["Message"].Should().Be("Transfer succeeded");
        var blind = Named(client, "BlindTransfer").Single();
        blind["Result"].Should().Be("Success");
        blind["TransfererChannel"].Should().StartWith("Local/101@phones-");
        blind["TransfereeChannel"].Should().StartWith("Local/+79161234567@callers-").And.EndWith(";1");
        blind["Extension"].Should().Be("104");
        var enters = Named(client, "BridgeEnter");
        enters.Should().Contain(e => e["Channel"]!.StartsWith("Local/104@phones-", StringComparison.Ordinal));
        enters.Last()["Channel"].Should().Be(blind["TransfereeChannel"], "the transferee is bridged to the target");
        Named(client, "DialEnd").Should().Contain(e => e["DestChannel"]!.StartsWith("Local/104@phones-", StringComparison.Ordinal) && e["DialStatus"] == "ANSWER");
        client.Events.Where(e => e["Linkedid"] is not null).Should().OnlyContain(e => e["Linkedid"] == call.Linkedid);
    }

    [Fact]
    public async Task Attended_transfer_joins_the_target_to_the_callers_bridge_and_it_adopts_the_older_Linkedid()
    {
        await using var emulator = await Emulators.StartAsync(speed: 5, output: output);
        await using var client = await RawAmiClient.LoginAsync(emulator.Port);
        var call = emulator.StartInboundCall("+79161234567", "74951230002");
        await SessionTests.WaitUntilAsync(() => emulator.Channels().Count(c => c.BridgeId.Length > 0) == 2);

        emulator.AttendedTransfer(call.Linkedid, "104");
        await call.Ended.WaitAsync(TimeSpan.FromSeconds(30));
        await client.WaitForCallsToEndAsync();
        output.WriteLine(string.Join('\n', client.Events.Select(e => $"{e.EventName} {e["Channel"]} {e["DestChannel"]} {e["Application"]} {e["Linkedid"]}")));

        var attended = Named(client, "AttendedTransfer").Single();
        attended["DestType"].Should().Be("Bridge");
        attended["OrigTransfererChannel"].Should().StartWith("Local/101@phones-");
        attended["SecondTransfererChannel"].Should().StartWith("Local/101@deskphone-");
        attended["TransferTargetChannel"].Should().StartWith("Local/104@phones-");
        attended["TransferTargetLinkedid"].Should().NotBe(call.Linkedid, "the consultation call had its own Linkedid");
        var target = attended["TransferTargetChannel"];
        var entry = Named(client, "BridgeEnter").Last(e => e["Channel"] == target);
        entry["BridgeUniqueid"].Should().Be(attended["DestBridgeUniqueid"]);
        entry["Linkedid"].Should().Be(call.Linkedid, "on entering the caller's bridge it adopts the oldest Linkedid");
        Named(client, "Hangup").Should().Contain(e => e["Channel"] == target && e["Linkedid"] == call.Linkedid);
    }

    [Fact]
    public async Task A_user_phone_that_never_answers_fails_the_originate_with_reason_3_after_the_timeout()
    {
        await using var emulator = await Emulators.StartAsync(output: output);
        await using var client = await RawAmiClient.LoginAsync(emulator.Port);

        await client.ActionAsync("Originate", ClickToCall("103", "+14155551234", ("Timeout", "5000")));
        var response = await client.WaitForAsync(m => m.EventName == "OriginateResponse");
        await client.WaitForCallsToEndAsync();

        response["Response"].Should().Be("Failure");
        response["Reason"].Should().Be("3");
        Named(client, "DialEnd").Single()["DialStatus"].Should().Be("NOANSWER");
        Named(client, "Newchannel").Should().OnlyContain(e => e["Channel"]!.StartsWith("Local/103@phones-", StringComparison.Ordinal), "the customer is never dialled");
    }

    [Fact]
    public async Task An_unknown_user_extension_fails_the_originate_with_reason_0_and_no_channel()
    {
        await using var emulator = await Emulators.StartAsync(output: output);
        await using var client = await RawAmiClient.LoginAsync(emulator.Port);

        var queued = await client.ActionAsync("Originate", ClickToCall("999", "+14155551234"));
        var response = await client.WaitForAsync(m => m.EventName == "OriginateResponse");

        queued["Message"].Should().Be("Originate successfully queued");
        response["Response"].Should().Be("Failure");
        response["Reason"].Should().Be("0");
        response["Channel"].Should().Be("Local/999@phones");
        Named(client, "Newchannel").Should().BeEmpty();
    }

    [Theory]
    [InlineData("+14155550486", "BUSY", "17")]
    [InlineData("+14155550480", "NOANSWER", "19")]
    [InlineData("+14155550404", "CONGESTION", "34")]
    public async Task A_customer_who_does_not_answer_ends_the_call_with_the_dial_status_and_cause(string number, string status, string cause)
    {
        // 105 stays on the line longer than the 10 s outbound dial timeout (the lab's 101 would hang up after 6 s).
        await using var emulator = await Emulators.StartAsync(output: output, configure: o => o.Phones["105"] = PartyBehaviour.Answers(1, 60));
        await using var client = await RawAmiClient.LoginAsync(emulator.Port);

        await client.ActionAsync("Originate", ClickToCall("105", number, ("Variable", "SB_CALL_ID=x1")));
        await client.WaitForCallsToEndAsync();

        (await client.WaitForAsync(m => m.EventName == "OriginateResponse"))["Reason"].Should().Be("4", "the user answered");
        Named(client, "DialEnd").Last()["DialStatus"].Should().Be(status);
        Named(client, "DialEnd").Last()["DestChannel"].Should().StartWith($"Local/{number}@pstn-");
        Named(client, "VarSet").Last(e => e["Variable"] == "DIALSTATUS")["Value"].Should().Be(status);
        Named(client, "Hangup").Last()["Channel"].Should().StartWith("Local/105@phones-").And.EndWith(";1");
        Named(client, "Hangup").Last()["Cause"].Should().Be(cause);
    }

    [Fact]
    public async Task ChannelId_names_the_call_and_a_second_originate_with_it_fails_while_it_lives()
    {
        await using var emulator = await Emulators.StartAsync(speed: 5, output: output);
        await using var client = await RawAmiClient.LoginAsync(emulator.Port);

        await client.ActionAsync("Originate", ClickToCall("101", "+14155551234", ("ChannelId", "sb-9f2c1e")));
        await client.WaitForAsync(m => m.EventName == "DialBegin" && m["Channel"] is not null);
        await client.SendAsync([("Action", "Originate"), ("ActionID", "again"), .. ClickToCall("101", "+14155551234", ("ChannelId", "sb-9f2c1e"))]);
        var second = await client.WaitForAsync(m => m.EventName == "OriginateResponse" && m.ActionId == "again");
        await client.WaitForCallsToEndAsync();

        var created = Named(client, "Newchannel");
        created.Select(e => e["Uniqueid"]).Should().StartWith(["sb-9f2c1e", "sb-9f2c1e;2"]);
        created.Should().HaveCount(4, "the second Originate creates no channel");
        created.Should().OnlyContain(e => e["Linkedid"] == "sb-9f2c1e");
        client.Received.Single(m => m.EventName is null && m.ActionId == "again")["Message"].Should().Be("Originate successfully queued");
        second["Response"].Should().Be("Failure");
        second["Reason"].Should().Be("0");
    }

    [Fact]
    public async Task Recording_is_a_real_8_kHz_16_bit_mono_wav_as_long_as_the_call_closed_after_hangup()
    {
        await using var emulator = await Emulators.StartAsync(output: output);
        await using var client = await RawAmiClient.LoginAsync(emulator.Port);

        await client.ActionAsync("Originate", ClickToCall("101", "+14155551234"));
        var name = await client.WaitForAsync(m => m.EventName == "VarSet" && m["Variable"] == "MIXMONITOR_FILENAME");
        await client.WaitForCallsToEndAsync();
        var path = name["Value"]!;
        var bytes = await ReadWhenClosedAsync(path);

        File.Exists(path).Should().BeTrue();
        System.Text.Encoding.ASCII.GetString(bytes, 0, 4).Should().Be("RIFF");
        System.Text.Encoding.ASCII.GetString(bytes, 8, 4).Should().Be("WAVE");
        BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(22)).Should().Be(1, "mono");
        BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(24)).Should().Be(8000u);
        BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(34)).Should().Be(16);
        var data = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(40));
        data.Should().Be((uint)(bytes.Length - 44));
        (data / 16000.0).Should().BeApproximately(4, 0.6, "MixMonitor runs from the customer's dial (1 s ringing) to the hangup (3 s talk), in emulated seconds");
        bytes.Skip(44).Should().Contain(b => b != 0, "the audio is not silence");
    }

    [Fact]
    public async Task Recording_grows_while_the_call_runs()
    {
        await using var emulator = await Emulators.StartAsync(speed: 2, output: output);
        await using var client = await RawAmiClient.LoginAsync(emulator.Port);
        var call = emulator.StartInboundCall("+79161234567", "74951234567");
        var name = await client.WaitForAsync(m => m.EventName == "VarSet" && m["Variable"] == "MIXMONITOR_FILENAME");

        await SessionTests.WaitUntilAsync(() => new FileInfo(name["Value"]!).Length > 44 + 8000);

        call.Ended.IsCompleted.Should().BeFalse("audio is written while the call is still up");
        emulator.HangupAll();
        await call.Ended.WaitAsync(TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task Durations_are_reported_in_emulated_seconds_at_any_speed()
    {
        await using var emulator = await Emulators.StartAsync(speed: 40, output: output);
        await using var client = await RawAmiClient.LoginAsync(emulator.Port);

        await client.ActionAsync("Originate", ClickToCall("101", "+14155551234"));
        await client.WaitForCallsToEndAsync();

        var vars = Named(client, "VarSet").Where(e => e["Value"] != "").GroupBy(e => e["Variable"]!, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last()["Value"], StringComparer.Ordinal);
        vars["ANSWEREDTIME"].Should().Be("3", "the customer talks 3 s");
        vars["DIALEDTIME"].Should().Be("4", "it rang 1 s first");
        Named(client, "Cdr").Single(e => e["Channel"]!.EndsWith(";1", StringComparison.Ordinal))["BillableSeconds"].Should().Be("4", "101 answered 1 s before the customer rang, and the call lasted 4 s more");
    }

    [Fact]
    public async Task With_PJSIP_phones_the_legs_are_single_PJSIP_channels()
    {
        await using var emulator = await Emulators.StartAsync(output: output, configure: o => o.PhoneTechnology = PhoneTechnology.Pjsip);
        await using var client = await RawAmiClient.LoginAsync(emulator.Port);

        await client.ActionAsync("Originate", [("Channel", "PJSIP/101"), ("Context", "from-internal"), ("Exten", "+14155551234"), ("Priority", "1"), ("Async", "true")]);
        await client.WaitForCallsToEndAsync();
        var inbound = emulator.StartInboundCall("+79161234567", "74951234567");
        await inbound.Ended.WaitAsync(TimeSpan.FromSeconds(20));
        await client.WaitForAsync(m => m.EventName == "Hangup" && m["Linkedid"] == inbound.Linkedid, skip: 3);

        var response = Named(client, "OriginateResponse").First();
        response["Channel"].Should().MatchRegex("^PJSIP/101-[0-9a-f]{8}$");
        response["Reason"].Should().Be("4");
        var ringGroup = Named(client, "DialBegin").Where(e => e["Linkedid"] == inbound.Linkedid).Select(e => e["DestChannel"]).ToList();
        ringGroup.Should().HaveCount(2).And.OnlyContain(c => System.Text.RegularExpressions.Regex.IsMatch(c!, "^PJSIP/10[14]-[0-9a-f]{8}$"));
        Named(client, "DialBegin").Where(e => e["Linkedid"] == inbound.Linkedid).Should().OnlyContain(e => e["DestCallerIDNum"] == "74951234567", "the DID is on the phone's leg, the extension only in the channel name");
        Named(client, "DialEnd").Should().Contain(e => e["DestChannel"]!.StartsWith("PJSIP/101-", StringComparison.Ordinal) && e["DialStatus"] == "ANSWER" && e["Linkedid"] == inbound.Linkedid);
    }

    [Fact]
    public async Task Hangup_action_on_the_caller_ends_a_ringing_inbound_call_as_a_missed_one()
    {
        await using var emulator = await Emulators.StartAsync(speed: 2, output: output);
        await using var client = await RawAmiClient.LoginAsync(emulator.Port);
        var call = emulator.StartInboundCall("+79161234567", "74951230000");
        await client.WaitForAsync(m => m.EventName == "DialState" && m["Channel"] is not null);

        var answer = await client.ActionAsync("Hangup", ("Channel", call.FirstChannel));
        await call.Ended.WaitAsync(TimeSpan.FromSeconds(20));
        await client.WaitForCallsToEndAsync();

        answer["Message"].Should().Be("Channel Hungup");
        Named(client, "SoftHangupRequest").Should().Contain(e => e["Channel"] == call.FirstChannel);
        Named(client, "DialEnd").Should().Contain(e => e["DialStatus"] == "CANCEL" && e["DestChannel"]!.StartsWith("Local/103@phones-", StringComparison.Ordinal));
        Named(client, "Hangup").Select(e => e["Channel"]).Should().Contain(call.FirstChannel);
        emulator.Channels().Should().BeEmpty();
    }

    [Fact]
    public async Task Stop_ends_calls_and_sessions_without_a_Shutdown_event_and_Start_listens_on_the_same_port()
    {
        await using var emulator = await Emulators.StartAsync(speed: 1, output: output);
        await using var client = await RawAmiClient.LoginAsync(emulator.Port);
        var port = emulator.Port;
        emulator.StartInboundCall("+79161234567", "74951234567");
        await client.WaitForAsync(m => m.EventName == "DialBegin" && m["Channel"] is not null);

        await emulator.StopAsync();
        await client.Closed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await emulator.StartAsync();
        await using var again = await RawAmiClient.LoginAsync(emulator.Port);
        var list = await again.ActionAsync("CoreShowChannels");
        var complete = await again.WaitForAsync(m => m.EventName == "CoreShowChannelsComplete");

        client.Events.Should().NotContain(e => e.EventName == "Shutdown" || e.EventName == "Hangup");
        emulator.Port.Should().Be(port);
        list["EventList"].Should().Be("start");
        complete["ListItems"].Should().Be("0", "the restart ended every call");
    }

    [Fact]
    public async Task Dropping_the_sessions_keeps_the_calls_and_a_new_session_lists_them()
    {
        await using var emulator = await Emulators.StartAsync(speed: 1, output: output);
        await using var client = await RawAmiClient.LoginAsync(emulator.Port);
        var call = emulator.StartInboundCall("+79161234567", "74951234567");
        await client.WaitForAsync(m => m.EventName == "DialBegin" && m["Channel"] is not null);

        emulator.DropAllSessions();
        await client.Closed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await using var again = await RawAmiClient.LoginAsync(emulator.Port);
        await again.ActionAsync("CoreShowChannels");
        await again.WaitForAsync(m => m.EventName == "CoreShowChannelsComplete");

        again.Events.Where(e => e.EventName == "CoreShowChannel").Should().NotBeEmpty().And.OnlyContain(e => e["Linkedid"] == call.Linkedid);
        call.Ended.IsCompleted.Should().BeFalse();
        emulator.HangupAll();
        await call.Ended.WaitAsync(TimeSpan.FromSeconds(30));
    }

    private static async Task<byte[]> ReadWhenClosedAsync(string path)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            try
            {
                await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.None);
                var bytes = new byte[file.Length];
                await file.ReadExactlyAsync(bytes);
                return bytes;
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                // MixMonitor still holds it open; it closes a moment after the hangup.
                await Task.Delay(20);
            }
        }
    }
}
