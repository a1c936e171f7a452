using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Switchboard.Emulator;
using Switchboard.Hosting;
using Switchboard.Outbox;

namespace Switchboard.Bench;

/// <summary>
/// <c>switchboard-bench clicks</c>: how soon a click in the CRM becomes an Originate on the PBX's AMI
/// socket. The portal emulator POSTs ONEXTERNALCALLSTART to Switchboard (in this process, SQLite, the
/// shipped settings); a minimal AMI peer in this process notes when each Originate's bytes arrive and
/// answers as Asterisk does for a busy phone (queued, then OriginateResponse Failure Reason 5), so
/// every call also ends and is finished at the portal, as a real one would be. Reported per click: the
/// POST's answer (the durable acknowledgement) and the Originate's arrival, both from the POST's start.
/// </summary>
internal static class ClickBench
{
    public static Command Command()
    {
        var clicks = new Option<int>("--clicks") { Description = "Clicks to send.", DefaultValueFactory = _ => 300 };
        var rate = new Option<double>("--rate") { Description = "Clicks per second (each from one of 50 users to its own number).", DefaultValueFactory = _ => 10 };
        var command = new Command("clicks", "Click-to-call latency: from the POST of ONEXTERNALCALLSTART to the Originate written on the AMI socket, beside the POST's own answer (all in this process, loopback only).") { clicks, rate };
        command.SetAction((parse, ct) => BenchCommands.Guard(() => RunAsync(parse.GetValue(clicks), parse.GetValue(rate), ct)));
        return command;
    }

    private static async Task<int> RunAsync(int count, double rate, CancellationToken ct)
    {
        if (count < 1 || rate <= 0)
        {
            throw new BenchAbortedException("--clicks must be at least 1 and --rate above 0.");
        }

        const int users = 50;
        var options = new EmulatorOptions { Url = "http://127.0.0.1:0", EchoCallEvents = false };
        options.Users.Clear();
        for (var u = 1; u <= users; u++)
        {
            options.Users.Add(new EmulatedUser { Id = u, Name = "User", LastName = u.ToString(CultureInfo.InvariantCulture), IsAdmin = u == 1, PhoneInner = (100 + u).ToString(CultureInfo.InvariantCulture) });
        }

        await using var portal = new PortalEmulator(options);
        await portal.StartAsync(ct);
        await using var ami = new StopwatchAmi();
        var data = Directory.CreateTempSubdirectory("switchboard-click-bench-");
        try
        {
            var port = BenchHost.FreePort();
            var settings = portal.SwitchboardSettings();
            settings["urls"] = $"http://127.0.0.1:{port}";
            settings["Switchboard:PublicUrl"] = $"http://127.0.0.1:{port}/";
            settings["Switchboard:Store:DataDirectory"] = data.FullName;
            settings["Logging:LogLevel:Default"] = "Warning";
            settings["Switchboard:Pbx:Asterisk:bench:Port"] = ami.Port.ToString(CultureInfo.InvariantCulture);
            settings["Switchboard:Pbx:Asterisk:bench:Username"] = "bench";
            settings["Switchboard:Pbx:Asterisk:bench:Secret"] = "bench";
            settings["Switchboard:Pbx:Asterisk:bench:AuthType"] = "Plain";

            await using var app = SwitchboardHost.Build([], settings);
            await app.StartAsync(ct);
            var install = await portal.SendInstallAsync(new Uri($"http://127.0.0.1:{port}/bitrix24/events"), ct);
            if (install.Deliveries.Single().Status != 200)
            {
                throw new BenchAbortedException("The install was not accepted.");
            }

            var outbox = app.Services.GetRequiredService<IOutboxStore>();
            var pbx = app.Services.GetRequiredService<Switchboard.Pbx.PbxRegistry>().Connectors.Single();
            await BenchHost.WaitAsync(async () => pbx.IsReady && (await outbox.ListAsync(null, 100, ct)).Any(e => e.Kind == OutboxKinds.PortalSetup && e.Status == OutboxStatus.Done), TimeSpan.FromSeconds(60), "the install's set-up and the PBX connection", ct);

            // A few clicks first, so JIT and connection set-up are not measured.
            var warm = await ClickAsync(portal, ami, 1, "+10000000000", ct);
            var results = new (double Ack, double Originate)[count];
            var interval = TimeSpan.FromSeconds(1 / rate);
            var start = Stopwatch.GetTimestamp();
            var running = new List<Task>();
            for (var i = 0; i < count; i++)
            {
                var due = start + (long)(interval.TotalSeconds * i * Stopwatch.Frequency);
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, ct);
                }

                var n = i;
                // A user clicks its own number each time: never a repeat of the same user and number within 5 s.
                running.Add(Task.Run(async () => results[n] = await ClickAsync(portal, ami, (n % users) + 1, "+1415" + (5_000_000 + n).ToString(CultureInfo.InvariantCulture), ct), ct));
            }

            await Task.WhenAll(running);
            var finished = 0;
            await BenchHost.WaitAsync(() => Task.FromResult((finished = portal.State.Calls.Count(c => c.Finished)) >= count + 1), TimeSpan.FromSeconds(120), "every call to be finished at the portal", ct);

            var acks = results.Select(r => r.Ack).Order().ToArray();
            var originates = results.Select(r => r.Originate).Order().ToArray();
            Console.WriteLine($"clicks                 {count} at {rate:0.#}/s (warm-up click: originate {warm.Originate:0.0} ms)");
            Console.WriteLine($"POST -> 200            p50 {Percentile(acks, 50):0.0} ms  p99 {Percentile(acks, 99):0.0} ms  max {acks[^1]:0.0} ms");
            Console.WriteLine($"POST -> Originate      p50 {Percentile(originates, 50):0.0} ms  p99 {Percentile(originates, 99):0.0} ms  max {originates[^1]:0.0} ms");
            Console.WriteLine($"originate p99 / ack p99 {Percentile(originates, 99) / Percentile(acks, 99):0.0}");
            Console.WriteLine($"originates received    {ami.Originates} (one per click: {ami.Originates == count + 1})");
            Console.WriteLine($"calls finished         {finished} of {count + 1}");
            await app.StopAsync(ct);
            return ami.Originates == count + 1 ? 0 : 1;
        }
        finally
        {
            data.Delete(recursive: true);
        }
    }

    private static async Task<(double Ack, double Originate)> ClickAsync(PortalEmulator portal, StopwatchAmi ami, long user, string number, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var sent = await portal.SendClickToCallAsync(new ClickToCall { UserId = user, PhoneNumber = number }, ct);
        var ack = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        if (sent.Deliveries.Single().Status != 200)
        {
            throw new BenchAbortedException($"A click was answered {sent.Deliveries.Single().Status}.");
        }

        var arrived = await ami.WaitForOriginateAsync(sent.CallId!, ct).WaitAsync(TimeSpan.FromSeconds(30), ct);
        return (ack, Stopwatch.GetElapsedTime(started, arrived).TotalMilliseconds);
    }

    private static double Percentile(double[] sorted, int p) => sorted[Math.Clamp((int)Math.Ceiling(p / 100.0 * sorted.Length) - 1, 0, sorted.Length - 1)];



    /// <summary>
    /// The least of an AMI peer that stands for Asterisk 22 here: the banner, a plain login, answers to
    /// every other action, and for an Originate the moment its last byte arrived, keyed by its CALL_ID
    /// variable; then "queued" and an OriginateResponse for a busy phone (Reason 5), as Asterisk sends them.
    /// </summary>
    private sealed class StopwatchAmi : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly ConcurrentDictionary<string, TaskCompletionSource<long>> _originates = new();
        private readonly Task _accepting;
        private int _count;

        public StopwatchAmi()
        {
            _listener.Start();
            _accepting = AcceptAsync();
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public int Originates => Volatile.Read(ref _count);

        public Task<long> WaitForOriginateAsync(string callId, CancellationToken ct) => Slot(callId).Task;

        private TaskCompletionSource<long> Slot(string callId) => _originates.GetOrAdd(callId, _ => new(TaskCreationOptions.RunContinuationsAsynchronously));

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    _ = ServeAsync(client);
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    return;
                }
            }
        }

        private async Task ServeAsync(TcpClient client)
        {
            using var _ = client;
            client.NoDelay = true;
            var stream = client.GetStream();
            var reader = new StreamReader(stream, Encoding.ASCII);
            var gate = new SemaphoreSlim(1, 1);
            async Task WriteAsync(string text)
            {
                await gate.WaitAsync(_stop.Token);
                try
                {
                    await stream.WriteAsync(Encoding.ASCII.GetBytes(text), _stop.Token);
                }
                finally
                {
                    gate.Release();
                }
            }

            try
            {
                await WriteAsync("Asterisk Call Manager/11.0.0\r\n");
                while (true)
                {
                    var fields = new List<(string Key, string Value)>();
                    string? line;
                    while ((line = await reader.ReadLineAsync(_stop.Token)) is { Length: > 0 })
                    {
                        var colon = line.IndexOf(':', StringComparison.Ordinal);
                        fields.Add(colon < 0 ? (line, "") : (line[..colon].Trim(), line[(colon + 1)..].Trim()));
                    }

                    var arrived = Stopwatch.GetTimestamp();
                    if (line is null)
                    {
                        return;
                    }

                    if (fields.Count == 0)
                    {
                        continue;
                    }

                    var action = fields.FirstOrDefault(f => f.Key.Equals("Action", StringComparison.OrdinalIgnoreCase)).Value ?? "";
                    var id = fields.FirstOrDefault(f => f.Key.Equals("ActionID", StringComparison.OrdinalIgnoreCase)).Value ?? "";
                    switch (action.ToLowerInvariant())
                    {
                        case "login":
                            await WriteAsync($"Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n");
                            break;
                        case "coreshowchannels":
                            await WriteAsync($"Response: Success\r\nActionID: {id}\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\nEvent: CoreShowChannelsComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: 0\r\n\r\n");
                            break;
                        case "originate":
                            var callId = fields.Where(f => f.Key.Equals("Variable", StringComparison.OrdinalIgnoreCase))
                                .Select(f => f.Value.Split('=', 2)).FirstOrDefault(v => v.Length == 2)?[1] ?? "";
                            Interlocked.Increment(ref _count);
                            Slot(callId).TrySetResult(arrived);
                            var channel = fields.FirstOrDefault(f => f.Key.Equals("Channel", StringComparison.OrdinalIgnoreCase)).Value;
                            await WriteAsync($"Response: Success\r\nActionID: {id}\r\nMessage: Originate successfully queued\r\n\r\n");
                            await WriteAsync($"Event: OriginateResponse\r\nPrivilege: call,all\r\nActionID: {id}\r\nResponse: Failure\r\nChannel: {channel}\r\nReason: 5\r\nUniqueid: <unknown>\r\n\r\n");
                            break;
                        case "logoff":
                            await WriteAsync($"Response: Goodbye\r\nActionID: {id}\r\nMessage: Thanks for all the fish.\r\n\r\n");
                            return;
                        case "ping":
                            await WriteAsync($"Response: Success\r\nActionID: {id}\r\nPing: Pong\r\nTimestamp: 0.000000\r\n\r\n");
                            break;
                        default:
                            await WriteAsync($"Response: Success\r\nActionID: {id}\r\nMessage: Command output follows\r\nOutput: Asterisk 22.10.1\r\n\r\n");
                            break;
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
            {
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _accepting;
            _stop.Dispose();
        }
    }
}
