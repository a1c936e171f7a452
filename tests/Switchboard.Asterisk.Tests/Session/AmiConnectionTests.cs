using System.Net;
using System.Net.Sockets;
using System.Text;
using Switchboard.Asterisk.Events;
using Switchboard.Asterisk.Session;
using Switchboard.Asterisk.Tests.Support;
using Switchboard.Asterisk.Wire;

namespace Switchboard.Asterisk.Tests.Session;

public sealed class AmiConnectionTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static byte[] PartOf(string transcript, string marker) =>
        Transcript.Load(transcript).Parts.Single(p => p.Marker == marker).Bytes;

    private static async Task<AmiEvent> NextEventAsync(AmiConnection connection) =>
        await connection.Events.ReadAsync().AsTask().WaitAsync(Patience);

    /// <summary>Reads Events to its end: it completes only once closed and read out.</summary>
    private static async Task<List<AmiEvent>> DrainAsync(AmiConnection connection)
    {
        using var deadline = new CancellationTokenSource(Patience);
        var drained = new List<AmiEvent>();
        await foreach (var e in connection.Events.ReadAllAsync(deadline.Token))
        {
            drained.Add(e);
        }

        return drained;
    }

    [Fact]
    public async Task Plain_login_sends_username_secret_and_events_and_reads_the_AMI_version()
    {
        await using var server = new ScriptedAmiServer();
        var options = server.Options(AmiAuthType.Plain);
        options.Events = "call,dialplan";

        await using var connection = await AmiConnection.OpenAsync(options, CancellationToken.None);

        connection.Banner.Should().Be("Asterisk Call Manager/11.0.0");
        connection.AmiVersion.Should().Be("11.0.0");
        var login = await server.WaitForActionAsync("Login");
        login["Username"].Should().Be(ScriptedAmiServer.Username);
        login["Secret"].Should().Be(ScriptedAmiServer.Secret);
        login["Events"].Should().Be("call,dialplan");
        login.ActionId.Should().NotBeNullOrEmpty();
        (await NextEventAsync(connection)).Should().BeOfType<FullyBootedEvent>();
        connection.Closed.IsCompleted.Should().BeFalse();
    }

    [Fact]
    public async Task Md5_login_answers_the_challenge_and_the_secret_never_crosses_the_wire()
    {
        await using var server = new ScriptedAmiServer();

        await using var connection = await AmiConnection.OpenAsync(server.Options(AmiAuthType.Md5), CancellationToken.None);

        var challenge = await server.WaitForActionAsync("Challenge");
        challenge["AuthType"].Should().Be("MD5");
        var login = await server.WaitForActionAsync("Login");
        login["AuthType"].Should().Be("MD5");
        login["Key"].Should().Be("8f84d2fbf8d9c1a27854bd4027ce6e1c", "md5(\"179242091\" + secret) in lower-case hex");
        server.Actions.Should().NotContain(a => a.Any(f => f.Value.Contains(ScriptedAmiServer.Secret, StringComparison.Ordinal)));
        (await NextEventAsync(connection)).Should().BeOfType<FullyBootedEvent>();
    }

    [Theory]
    [InlineData(AmiAuthType.Plain)]
    [InlineData(AmiAuthType.Md5)]
    public async Task A_wrong_secret_is_an_AmiLoginException_with_Asterisks_message_and_never_the_secret(AmiAuthType auth)
    {
        await using var server = new ScriptedAmiServer();
        var logger = new CollectingLogger();
        const string wrong = "not-the-Secret-42";

        var open = () => AmiConnection.OpenAsync(server.Options(auth, wrong), logger, CancellationToken.None);

        var failure = await open.Should().ThrowAsync<AmiLoginException>();
        failure.Which.Message.Should().Contain("Authentication failed").And.NotContain(wrong);
        logger.Lines.Should().Contain(l => l.Contains("4101", StringComparison.Ordinal));
        logger.Lines.Should().NotContain(l => l.Contains(wrong, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_successful_session_logs_neither_the_secret_nor_the_key()
    {
        await using var server = new ScriptedAmiServer();
        var logger = new CollectingLogger();

        var connection = await AmiConnection.OpenAsync(server.Options(AmiAuthType.Plain), logger, CancellationToken.None);
        await connection.DisposeAsync();

        logger.Lines.Should().NotBeEmpty();
        logger.Lines.Should().NotContain(l => l.Contains(ScriptedAmiServer.Secret, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_peer_that_never_sends_the_banner_is_a_TimeoutException()
    {
        await using var server = new ScriptedAmiServer { SendBanner = false };
        var options = server.Options();
        options.ConnectTimeout = TimeSpan.FromMilliseconds(300);

        var open = () => AmiConnection.OpenAsync(options, CancellationToken.None);

        await open.Should().ThrowAsync<TimeoutException>();
    }

    [Theory]
    [InlineData("", 5038, 5, 15)]
    [InlineData("127.0.0.1", 0, 5, 15)]
    [InlineData("127.0.0.1", 5038, 15, 15)]
    public async Task Unusable_options_are_refused_before_connecting(string host, int port, int pingSeconds, int deadSeconds)
    {
        var options = new AmiConnectionOptions
        {
            Host = host,
            Port = port,
            PingInterval = TimeSpan.FromSeconds(pingSeconds),
            DeadAfter = TimeSpan.FromSeconds(deadSeconds),
        };

        var open = () => AmiConnection.OpenAsync(options, CancellationToken.None);

        await open.Should().ThrowAsync<ArgumentException>();
    }

    [Fact]
    public async Task Nothing_listening_is_an_IOException_with_the_socket_error_inside()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var options = new AmiConnectionOptions { Host = "127.0.0.1", Port = port, Username = "u", Secret = "s" };

        var open = () => AmiConnection.OpenAsync(options, CancellationToken.None);

        (await open.Should().ThrowAsync<IOException>()).Which.InnerException.Should().BeOfType<SocketException>();
    }

    [Fact]
    public async Task An_event_list_is_one_result_with_its_items_and_none_of_them_reach_Events()
    {
        await using var server = new ScriptedAmiServer
        {
            OnAction = async (session, action) =>
            {
                await session.ReplayAsync(PartOf("session-actions", "core show channels during a call"), "6", action.ActionId!);
                await session.SendAsync(("Event", "Marker"), ("Privilege", "system,all"));
            },
        };
        await using var connection = await AmiConnection.OpenAsync(server.Options(), CancellationToken.None);
        (await NextEventAsync(connection)).Should().BeOfType<FullyBootedEvent>();

        var response = await connection.SendAsync(new AmiAction("CoreShowChannels"), CancellationToken.None);

        response.IsSuccess.Should().BeTrue();
        response.Text.Should().Be("Channels will follow");
        response.Items.Should().HaveCount(4).And.AllBeOfType<CoreShowChannelEvent>();
        response.Items.Cast<CoreShowChannelEvent>().Select(c => c.Snapshot.Channel).Should().Equal(
            "Local/101@phones-00000000;2", "Local/101@phones-00000000;1", "Local/+14155551234@pstn-00000001;2", "Local/+14155551234@pstn-00000001;1");
        response.ListComplete!.EventName.Should().Be("CoreShowChannelsComplete");
        response.ListComplete["ListItems"].Should().Be("4");
        (await NextEventAsync(connection)).Name.Should().Be("Marker", "the list's items went to the response, not to Events");
    }

    [Fact]
    public async Task Command_output_comes_back_as_Output_lines_in_order()
    {
        await using var server = new ScriptedAmiServer
        {
            OnAction = (session, action) => action["Command"] == "core show version"
                ? session.ReplayAsync(PartOf("session-actions", "command"), "8", action.ActionId!)
                : session.SendAsync(("Response", "Success"), ("ActionID", action.ActionId!), ("Message", "Command output follows"),
                    ("Output", "Name/username  Host"), ("Output", string.Empty), ("Output", "2 sip peers [Monitored: 1 online]")),
        };
        await using var connection = await AmiConnection.OpenAsync(server.Options(), CancellationToken.None);

        var version = await connection.SendAsync(new AmiAction("Command").Add("Command", "core show version"), CancellationToken.None);
        var peers = await connection.SendAsync(new AmiAction("Command").Add("Command", "sip show peers"), CancellationToken.None);

        version.Output.Should().Equal("Asterisk 22.10.1 built by root @ vm on a x86_64 running Linux on 2026-12-07 11:32:43 UTC");
        peers.Output.Should().Equal("Name/username  Host", string.Empty, "2 sip peers [Monitored: 1 online]");
    }

    [Fact]
    public async Task An_error_response_is_a_result_not_an_exception()
    {
        await using var server = new ScriptedAmiServer
        {
            OnAction = (session, action) => session.ReplayAsync(PartOf("session-actions", "unknown action"), "9", action.ActionId!),
        };
        await using var connection = await AmiConnection.OpenAsync(server.Options(), CancellationToken.None);

        var response = await connection.SendAsync(new AmiAction("NoSuchAction"), CancellationToken.None);

        response.IsSuccess.Should().BeFalse();
        response.Text.Should().StartWith("Invalid/unknown command: NoSuchAction.");
        response.Items.Should().BeEmpty();
        connection.Closed.IsCompleted.Should().BeFalse();
    }

    [Fact]
    public async Task Actions_in_flight_are_matched_by_ActionID_whatever_order_the_answers_come_in()
    {
        var held = new List<AmiMessage>();
        await using var server = new ScriptedAmiServer
        {
            OnAction = async (session, action) =>
            {
                held.Add(action);
                if (held.Count < 3)
                {
                    return;
                }

                foreach (var waiting in Enumerable.Reverse(held))
                {
                    await session.SendAsync(("Response", "Success"), ("ActionID", waiting.ActionId!), ("Message", waiting["Tag"]!));
                }
            },
        };
        await using var connection = await AmiConnection.OpenAsync(server.Options(), CancellationToken.None);

        var sends = new[] { "a", "b", "c" }
            .Select(tag => connection.SendAsync(new AmiAction("Setvar").Add("Tag", tag), CancellationToken.None))
            .ToList();
        var responses = await Task.WhenAll(sends);

        responses.Select(r => r.Text).Should().Equal("a", "b", "c");
        held.Select(a => a.ActionId).Should().OnlyHaveUniqueItems();
    }

    [Fact]
    public async Task The_callers_own_ActionID_is_used_and_a_response_with_an_unknown_ActionID_is_ignored()
    {
        await using var server = new ScriptedAmiServer
        {
            OnAction = async (session, action) =>
            {
                await session.SendAsync(("Response", "Success"), ("ActionID", "nobody-asked"), ("Message", "stray"));
                await session.SendAsync(("Response", "Success"), ("ActionID", action.ActionId!), ("Message", "mine"));
            },
        };
        await using var connection = await AmiConnection.OpenAsync(server.Options(), CancellationToken.None);

        var response = await connection.SendAsync(new AmiAction("Setvar") { ActionId = "my-own-1" }, CancellationToken.None);

        response.Text.Should().Be("mine");
        response.Message.ActionId.Should().Be("my-own-1");
        (await connection.SendAsync(new AmiAction("Ping"), CancellationToken.None)).IsSuccess.Should().BeTrue();
    }

    [Fact]
    public async Task A_replayed_click_to_call_reaches_Events_typed_and_in_order_and_repeated_fields_are_sent()
    {
        var transcript = Transcript.Load("c2c-answered");
        var bytes = transcript.Bytes;
        var text = Encoding.UTF8.GetString(bytes);
        var afterLogin = text.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4;
        var expected = (await transcript.ReadEventsAsync()).ToList();
        await using var server = new ScriptedAmiServer
        {
            OnAction = (session, action) => session.ReplayAsync(Encoding.UTF8.GetBytes(text[afterLogin..]), "2", action.ActionId!),
        };
        await using var connection = await AmiConnection.OpenAsync(server.Options(), CancellationToken.None);
        (await NextEventAsync(connection)).Should().BeOfType<FullyBootedEvent>();

        var originate = new AmiAction("Originate")
            .Add("Channel", "Local/101@phones").Add("Context", "from-internal").Add("Exten", "+14155551234").Add("Priority", "1")
            .Add("Async", "true").Add("Variable", "SB_CALL_ID=call-1").Add("Variable", "OTHER=2");
        var response = await connection.SendAsync(originate, CancellationToken.None);

        response.Text.Should().Be("Originate successfully queued");
        (await server.WaitForActionAsync("Originate")).GetAll("Variable").Should().Equal("SB_CALL_ID=call-1", "OTHER=2");
        var received = new List<AmiEvent>();
        while (received.Count < expected.Count)
        {
            received.Add(await NextEventAsync(connection));
        }

        received.Select(e => (e.GetType(), e.Name)).Should().Equal(expected.Select(e => (e.GetType(), e.Name)));
        received.OfType<OriginateResponseEvent>().Single().Message.ActionId.Should().Be(response.Message.ActionId);
        received.OfType<DialBeginEvent>().First().Caller.Should().BeNull();
        received.OfType<HangupEvent>().Should().OnlyContain(h => h.Cause == 16);
    }

    public static TheoryData<string> Violations => ["line of 100 KB", "10,000 fields", "endless line", "not Key: Value"];

    [Theory]
    [MemberData(nameof(Violations))]
    public async Task A_protocol_violation_closes_the_connection_and_fails_the_action_in_flight(string violation)
    {
        using var stopFlood = new CancellationTokenSource();
        Task flood = Task.CompletedTask;
        await using var server = new ScriptedAmiServer
        {
            OnAction = (session, action) =>
            {
                switch (violation)
                {
                    case "line of 100 KB":
                        return session.SendRawAsync(Encoding.ASCII.GetBytes("Event: Newexten\r\nAppData: " + new string('x', 100 * 1024) + "\r\n\r\n"));
                    case "10,000 fields":
                        var fields = new StringBuilder("Event: Status\r\n");
                        for (var i = 0; i < 10_000; i++)
                        {
                            fields.Append("ChanVariable: V").Append(i).Append("=1\r\n");
                        }

                        return session.SendRawAsync(Encoding.ASCII.GetBytes(fields.Append("\r\n").ToString()));
                    case "endless line":
                        flood = Task.Run(async () =>
                        {
                            var chunk = Encoding.ASCII.GetBytes(new string('y', 4096));
                            await session.SendRawAsync("Event: Endless\r\nData: "u8.ToArray());
                            try
                            {
                                while (!stopFlood.IsCancellationRequested)
                                {
                                    await session.SendRawAsync(chunk);
                                }
                            }
                            catch (Exception e) when (e is IOException or ObjectDisposedException)
                            {
                                // The client closed the socket: what this test waits for.
                            }
                        });
                        return Task.CompletedTask;
                    default:
                        return session.SendRawAsync("Response: Success\r\nraw text\r\n\r\n"u8.ToArray());
                }
            },
        };
        await using var connection = await AmiConnection.OpenAsync(server.Options(), CancellationToken.None);

        var send = () => connection.SendAsync(new AmiAction("Trigger"), CancellationToken.None);

        (await send.Should().ThrowAsync<AmiConnectionLostException>()).Which.ActionWritten.Should().BeTrue();
        (await connection.Closed.WaitAsync(Patience)).Should().BeOfType<AmiProtocolException>();
        await DrainAsync(connection);
        await stopFlood.CancelAsync();
        await flood.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_socket_closed_inside_a_packet_is_a_protocol_error()
    {
        await using var server = new ScriptedAmiServer
        {
            OnAction = async (session, action) =>
            {
                await session.SendRawAsync(Encoding.ASCII.GetBytes($"Response: Success\r\nActionID: {action.ActionId}\r\nMess"));
                session.Abort();
            },
        };
        await using var connection = await AmiConnection.OpenAsync(server.Options(), CancellationToken.None);

        var send = () => connection.SendAsync(new AmiAction("Setvar"), CancellationToken.None);

        (await send.Should().ThrowAsync<AmiConnectionLostException>()).Which.ActionWritten.Should().BeTrue();
        (await connection.Closed.WaitAsync(Patience)).Should().BeOfType<AmiProtocolException>();
    }

    [Fact]
    public async Task A_peer_that_closes_between_packets_closes_with_an_IOException_and_completes_Events()
    {
        await using var server = new ScriptedAmiServer();
        await using var connection = await AmiConnection.OpenAsync(server.Options(), CancellationToken.None);
        var session = await server.NextSessionAsync();

        session.Abort();

        var reason = await connection.Closed.WaitAsync(Patience);
        reason.Should().BeAssignableTo<IOException>().And.NotBeOfType<AmiProtocolException>();
        var drained = await DrainAsync(connection);

        drained.Should().ContainSingle().Which.Should().BeOfType<FullyBootedEvent>();
    }

    [Fact]
    public async Task A_half_open_peer_that_never_answers_pings_is_declared_dead_after_DeadAfter()
    {
        await using var server = new ScriptedAmiServer { AnswerPings = false };
        var options = server.Options();
        options.PingInterval = TimeSpan.FromMilliseconds(100);
        options.DeadAfter = TimeSpan.FromMilliseconds(800);
        await using var connection = await AmiConnection.OpenAsync(options, CancellationToken.None);

        var reason = await connection.Closed.WaitAsync(Patience);
        var closedAt = TimeProvider.System.GetUtcNow();

        reason.Should().BeOfType<TimeoutException>();
        (closedAt - connection.LastReceived).Should().BeGreaterThanOrEqualTo(options.DeadAfter - TimeSpan.FromMilliseconds(20));
        await server.WaitForActionAsync("Ping");
        await DrainAsync(connection);
    }

    [Fact]
    public async Task Keepalive_and_the_dead_peer_check_run_on_the_injected_clock_with_the_default_intervals()
    {
        await using var server = new ScriptedAmiServer { AnswerPings = false };
        var options = server.Options();
        options.PingInterval = new AmiConnectionOptions().PingInterval;
        options.DeadAfter = new AmiConnectionOptions().DeadAfter;
        var time = new ManualTime();
        await using var connection = await AmiConnection.OpenAsync(options, CancellationToken.None, time);
        var openedAt = time.GetUtcNow();

        // The clock moves a second at a time until the connection gives up; real time only paces the loop.
        var deadline = DateTime.UtcNow + Patience;
        while (!connection.Closed.IsCompleted && DateTime.UtcNow < deadline)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.WhenAny(connection.Closed, Task.Delay(20));
        }

        (await connection.Closed.WaitAsync(Patience)).Should().BeOfType<TimeoutException>();
        (time.GetUtcNow() - connection.LastReceived).Should().BeGreaterThanOrEqualTo(options.DeadAfter);
        connection.LastReceived.Should().BeOnOrAfter(openedAt);
        server.Actions.Count(a => a["Action"] == "Ping").Should().BeGreaterThanOrEqualTo(2, "one ping per PingInterval of silence before DeadAfter");
    }

    [Fact]
    public async Task A_pause_of_this_process_longer_than_DeadAfter_is_met_with_a_ping_not_a_close()
    {
        await using var server = new ScriptedAmiServer();
        var options = server.Options();
        options.PingInterval = TimeSpan.FromSeconds(5);
        options.DeadAfter = TimeSpan.FromSeconds(15);
        var time = new ManualTime();
        await using var connection = await AmiConnection.OpenAsync(options, CancellationToken.None, time);
        (await NextEventAsync(connection)).Should().BeOfType<FullyBootedEvent>();

        // The whole process slept for a minute: on waking, the connection asks before it gives up.
        time.Advance(TimeSpan.FromMinutes(1));

        await server.WaitForActionAsync("Ping");
        using var deadline = new CancellationTokenSource(Patience);
        while (connection.LastReceived < time.GetUtcNow())
        {
            deadline.Token.ThrowIfCancellationRequested();
            await Task.WhenAny(connection.Closed, Task.Delay(10, deadline.Token));
        }

        connection.Closed.IsCompleted.Should().BeFalse("the pong came back, so the peer is alive");
    }

    [Fact]
    public async Task ActionTimeout_runs_on_the_injected_clock()
    {
        await using var server = new ScriptedAmiServer { OnAction = (_, _) => Task.CompletedTask };
        var time = new ManualTime();
        await using var connection = await AmiConnection.OpenAsync(server.Options(), CancellationToken.None, time);

        var send = connection.SendAsync(new AmiAction("Slow"), CancellationToken.None);
        await server.WaitForActionAsync("Slow");
        send.IsCompleted.Should().BeFalse();
        time.Advance(server.Options().ActionTimeout);

        await FluentActions.Awaiting(() => send.WaitAsync(Patience)).Should().ThrowAsync<TimeoutException>();
    }

    [Fact]
    public async Task Answered_pings_keep_a_quiet_connection_open_past_DeadAfter()
    {
        await using var server = new ScriptedAmiServer();
        var options = server.Options();
        options.PingInterval = TimeSpan.FromMilliseconds(50);
        options.DeadAfter = TimeSpan.FromMilliseconds(1000);
        await using var connection = await AmiConnection.OpenAsync(options, CancellationToken.None);

        // One ping per PingInterval of silence: 25 of them span more than DeadAfter.
        await server.WaitForActionAsync("Ping", count: 25);

        connection.Closed.IsCompleted.Should().BeFalse();
    }

    [Fact]
    public async Task An_action_timeout_keeps_the_connection_open_and_the_late_response_is_dropped()
    {
        await using var server = new ScriptedAmiServer
        {
            OnAction = (session, action) => action["Action"] == "Slow"
                ? Task.CompletedTask
                : session.SendAsync(("Response", "Success"), ("ActionID", action.ActionId!)),
        };
        var options = server.Options();
        options.ActionTimeout = TimeSpan.FromMilliseconds(300);
        await using var connection = await AmiConnection.OpenAsync(options, CancellationToken.None);
        (await NextEventAsync(connection)).Should().BeOfType<FullyBootedEvent>();

        var slow = () => connection.SendAsync(new AmiAction("Slow"), CancellationToken.None);
        await slow.Should().ThrowAsync<TimeoutException>();

        var session = await server.NextSessionAsync();
        var slowId = (await server.WaitForActionAsync("Slow")).ActionId!;
        await session.SendAsync(("Response", "Success"), ("ActionID", slowId), ("Message", "too late"));
        await session.SendAsync(("Event", "Marker"));

        (await NextEventAsync(connection)).Name.Should().Be("Marker");
        (await connection.SendAsync(new AmiAction("Setvar"), CancellationToken.None)).IsSuccess.Should().BeTrue();
        connection.Closed.IsCompleted.Should().BeFalse();
    }

    [Fact]
    public async Task The_items_of_a_list_that_timed_out_do_not_leak_into_Events()
    {
        await using var server = new ScriptedAmiServer { OnAction = (_, _) => Task.CompletedTask };
        var options = server.Options();
        options.ActionTimeout = TimeSpan.FromMilliseconds(300);
        await using var connection = await AmiConnection.OpenAsync(options, CancellationToken.None);
        (await NextEventAsync(connection)).Should().BeOfType<FullyBootedEvent>();

        var list = () => connection.SendAsync(new AmiAction("CoreShowChannels"), CancellationToken.None);
        await list.Should().ThrowAsync<TimeoutException>();

        var session = await server.NextSessionAsync();
        var id = (await server.WaitForActionAsync("CoreShowChannels")).ActionId!;
        await session.ReplayAsync(PartOf("session-actions", "core show channels during a call"), "6", id);
        await session.SendAsync(("Event", "Marker"));

        (await NextEventAsync(connection)).Name.Should().Be("Marker");
    }

    [Fact]
    public async Task A_caller_cancellation_is_a_cancellation_not_a_timeout()
    {
        await using var server = new ScriptedAmiServer { OnAction = (_, _) => Task.CompletedTask };
        await using var connection = await AmiConnection.OpenAsync(server.Options(), CancellationToken.None);
        using var cancel = new CancellationTokenSource();

        var send = connection.SendAsync(new AmiAction("Slow"), cancel.Token);
        await server.WaitForActionAsync("Slow");
        await cancel.CancelAsync();

        await FluentActions.Awaiting(() => send).Should().ThrowAsync<OperationCanceledException>();
        connection.Closed.IsCompleted.Should().BeFalse();
    }

    [Fact]
    public async Task An_action_whose_write_stalls_because_the_peer_stopped_reading_still_times_out()
    {
        var release = new TaskCompletionSource();
        await using var server = new ScriptedAmiServer { OnAction = (_, _) => release.Task };
        var options = server.Options();
        options.ActionTimeout = TimeSpan.FromMilliseconds(500);
        await using var connection = await AmiConnection.OpenAsync(options, CancellationToken.None);
        _ = connection.SendAsync(new AmiAction("StopReading"), CancellationToken.None);
        await server.WaitForActionAsync("StopReading");

        // More than the two socket buffers hold, so the write cannot finish while nobody reads.
        var big = new AmiAction("Setvar");
        for (var i = 0; i < 64; i++)
        {
            big.Add("Variable", new string('v', 512 * 1024));
        }

        var send = () => connection.SendAsync(big, CancellationToken.None);

        await send.Should().ThrowAsync<TimeoutException>();
        release.SetResult();
    }

    [Fact]
    public async Task A_connection_lost_after_the_action_was_written_says_ActionWritten()
    {
        await using var server = new ScriptedAmiServer
        {
            OnAction = (session, _) =>
            {
                session.Abort();
                return Task.CompletedTask;
            },
        };
        await using var connection = await AmiConnection.OpenAsync(server.Options(), CancellationToken.None);

        var originate = () => connection.SendAsync(new AmiAction("Originate").Add("Channel", "Local/101@phones"), CancellationToken.None);

        var lost = (await originate.Should().ThrowAsync<AmiConnectionLostException>()).Which;
        lost.ActionWritten.Should().BeTrue();
        (await connection.Closed.WaitAsync(Patience)).Should().BeAssignableTo<IOException>();
    }

    [Fact]
    public async Task An_action_sent_after_the_connection_ended_was_certainly_not_written()
    {
        await using var server = new ScriptedAmiServer();
        await using var connection = await AmiConnection.OpenAsync(server.Options(), CancellationToken.None);
        (await server.NextSessionAsync()).Abort();
        await connection.Closed.WaitAsync(Patience);

        var originate = () => connection.SendAsync(new AmiAction("Originate"), CancellationToken.None);

        (await originate.Should().ThrowAsync<AmiConnectionLostException>()).Which.ActionWritten.Should().BeFalse();
        server.Actions.Should().NotContain(a => a["Action"] == "Originate");
    }

    [Fact]
    public async Task DisposeAsync_logs_off_closes_with_no_error_and_may_be_called_twice()
    {
        await using var server = new ScriptedAmiServer();
        var connection = await AmiConnection.OpenAsync(server.Options(), CancellationToken.None);

        await connection.DisposeAsync();
        await connection.DisposeAsync();

        await server.WaitForActionAsync("Logoff");
        (await connection.Closed.WaitAsync(Patience)).Should().BeNull();
        await DrainAsync(connection);
    }

    [Fact]
    public async Task A_Logoff_sent_by_the_caller_ends_the_connection_with_no_error()
    {
        await using var server = new ScriptedAmiServer();
        await using var connection = await AmiConnection.OpenAsync(server.Options(), CancellationToken.None);

        var goodbye = await connection.SendAsync(new AmiAction("Logoff"), CancellationToken.None);

        goodbye.Message.Response.Should().Be("Goodbye");
        goodbye.IsSuccess.Should().BeTrue();
        (await connection.Closed.WaitAsync(Patience)).Should().BeNull();
    }

    [Fact]
    public async Task A_slow_event_reader_pauses_the_socket_at_EventBuffer_events_and_loses_none()
    {
        const int buffer = 5;
        const int flood = buffer + 50;
        await using var server = new ScriptedAmiServer
        {
            OnAction = async (session, action) =>
            {
                if (action["Action"] != "Probe")
                {
                    await session.SendAsync(("Response", "Success"), ("ActionID", action.ActionId!));
                    return;
                }

                // The flood comes before the probe's answer: a connection that kept reading would see the answer.
                var all = new StringBuilder();
                for (var i = 0; i < flood; i++)
                {
                    all.Append("Event: Flood\r\nN: ").Append(i).Append("\r\n\r\n");
                }

                all.Append("Response: Success\r\nActionID: ").Append(action.ActionId).Append("\r\n\r\n");
                await session.SendRawAsync(Encoding.ASCII.GetBytes(all.ToString()));
            },
        };
        var options = server.Options();
        options.EventBuffer = buffer;
        options.ActionTimeout = TimeSpan.FromMilliseconds(1500);
        options.PingInterval = TimeSpan.FromMilliseconds(200);
        options.DeadAfter = TimeSpan.FromMilliseconds(600);
        await using var connection = await AmiConnection.OpenAsync(options, CancellationToken.None);

        var probe = () => connection.SendAsync(new AmiAction("Probe"), CancellationToken.None);
        await probe.Should().ThrowAsync<TimeoutException>("the answer sits behind events nobody has read");

        connection.Events.Count.Should().Be(buffer);
        connection.EventsReceived.Should().Be(buffer + 1, "the buffer is full and one more event waits to go in");
        connection.Closed.IsCompleted.Should().BeFalse("a pause for the reader is not a dead peer, though it lasted past DeadAfter");

        var events = new List<AmiEvent>();
        while (events.Count < flood + 1)
        {
            events.Add(await NextEventAsync(connection));
        }

        events[0].Should().BeOfType<FullyBootedEvent>();
        events.Skip(1).Select(e => e.Message["N"]).Should().Equal(Enumerable.Range(0, flood).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        (await connection.SendAsync(new AmiAction("Setvar"), CancellationToken.None)).IsSuccess.Should().BeTrue();
    }
}
