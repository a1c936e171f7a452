using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Switchboard.Bitrix24.Events;
using Switchboard.Emulator;
using Switchboard.Hosting;

namespace Switchboard.Bench;

/// <summary>
/// <c>switchboard-bench fuzz</c>: starts Switchboard (SQLite in a temp folder) and the portal emulator
/// in this process, installs the emulator's portal, then sends N hostile requests over raw HTTP/1.1
/// connections: real event bodies mutated (truncated escapes, bad UTF-8, deep nesting, huge keys,
/// flipped and random bytes, JSON variants), broken chunked framing, wrong content types and forged
/// tokens. Answers are counted by status; any 5xx other than an honest 503 (the journal unavailable)
/// fails the run, and so does a server that is not ready or refuses a genuine event afterwards.
/// </summary>
/// <remarks>No install or token-changing update is forged: either would make Switchboard contact the
/// hosts a body names, and this tool talks to loopback only.</remarks>
internal static class FuzzBench
{
    public static Command Command()
    {
        var bodies = new Option<int>("--bodies") { Description = "Hostile requests to send.", DefaultValueFactory = _ => 100_000 };
        var connections = new Option<int>("--connections", "-c") { Description = "Concurrent connections.", DefaultValueFactory = _ => 16 };
        var seed = new Option<int>("--seed") { Description = "Random seed: the same seed sends the same requests (in an order that depends on the connections' pace).", DefaultValueFactory = _ => 18 };
        var command = new Command("fuzz", "Sends hostile bodies to a Switchboard it starts (with the portal emulator, in this process, loopback only) and counts the answers by status; a 5xx other than an honest 503 fails the run.")
        {
            bodies, connections, seed,
        };
        command.SetAction((parse, ct) => BenchCommands.Guard(() => RunAsync(parse.GetValue(bodies), parse.GetValue(connections), parse.GetValue(seed), ct)));
        return command;
    }

    private static async Task<int> RunAsync(int count, int connections, int seed, CancellationToken ct)
    {
        if (count < 1 || connections is < 1 or > 1024)
        {
            throw new BenchAbortedException("--bodies must be at least 1 and --connections between 1 and 1024.");
        }

        await using var portal = new PortalEmulator(new EmulatorOptions { Url = "http://127.0.0.1:0", EchoCallEvents = false });
        await portal.StartAsync(ct);
        var data = Directory.CreateTempSubdirectory("switchboard-fuzz-");
        var logs = new CountingLoggerProvider();
        try
        {
            var port = BenchHost.FreePort();
            var settings = portal.SwitchboardSettings();
            settings["urls"] = $"http://127.0.0.1:{port}";
            settings["Switchboard:PublicUrl"] = $"http://127.0.0.1:{port}/";
            settings["Switchboard:Store:DataDirectory"] = data.FullName;
            settings["Logging:LogLevel:Default"] = "Information";
            settings["Logging:LogLevel:Microsoft"] = "Warning";
            await using var app = SwitchboardHost.Build([], settings, builder =>
            {
                builder.Logging.ClearProviders();
                builder.Logging.AddProvider(logs);
            });
            await app.StartAsync(ct);
            var endpoint = new Uri($"http://127.0.0.1:{port}/bitrix24/events");
            var install = await portal.SendInstallAsync(endpoint, ct);
            if (install.Deliveries.Single().Status != 200)
            {
                throw new BenchAbortedException("The emulator's install was not accepted.");
            }

            var corpus = Corpus.Build(portal, new Random(seed));
            Console.Error.WriteLine($"Switchboard on {endpoint}, portal {portal.Options.MemberId} installed; sending {count:N0} hostile requests on {connections} connections (seed {seed})…");

            var tally = new Tally();
            var next = -1;
            var clock = Stopwatch.StartNew();
            var workers = Enumerable.Range(0, connections).Select(_ => Task.Run(async () =>
            {
                Connection? connection = null;
                try
                {
                    int i;
                    while ((i = Interlocked.Increment(ref next)) < count)
                    {
                        // Request i is the same in every run with this seed, whichever connection sends it.
                        var request = corpus.Next(new Random(unchecked((seed * 1_000_003) + i)));
                        connection ??= await Connection.OpenAsync(port, ct);
                        var answer = await connection.ExchangeAsync(request.Bytes, ct);
                        tally.Add(request.Kind, answer);
                        if (answer.Close)
                        {
                            connection.Dispose();
                            connection = null;
                        }
                    }
                }
                finally
                {
                    connection?.Dispose();
                }
            }, ct)).ToArray();
            await Task.WhenAll(workers);
            var elapsed = clock.Elapsed;

            // Afterwards the server must still be ready and take a genuine event.
            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            var ready = await client.GetAsync(new Uri($"http://127.0.0.1:{port}/readyz"), ct);
            var genuine = await portal.SendEventAsync(EventNames.VoximplantCallStart, new Dictionary<string, string> { ["CALL_ID"] = "externalCall.fuzzcheck." + seed, ["USER_ID"] = "1" }, cancellationToken: ct);
            var genuineStatus = genuine.Deliveries.Count == 0 ? 0 : genuine.Deliveries[0].Status;
            await app.StopAsync(ct);

            tally.Print(Console.Out, count, connections, seed, elapsed, logs);
            Console.WriteLine($"afterwards      /readyz {(int)ready.StatusCode}, a genuine event {genuineStatus}");
            var failed = tally.Dishonest5xx > 0 || logs.Errors > 0 || ready.StatusCode != HttpStatusCode.OK || genuineStatus != 200;
            Console.WriteLine(failed ? "FAILED" : "passed: no 5xx but honest 503s, no error logged, server ready afterwards");
            return failed ? 1 : 0;
        }
        finally
        {
            data.Delete(recursive: true);
        }
    }


    /// <summary>One request, whole (head and body), and the kind of hostility it carries.</summary>
    private sealed record HostileRequest(string Kind, byte[] Bytes);

    /// <summary>The real bodies the mutations start from, and the mutations.</summary>
    private sealed class Corpus
    {
        private const string Form = "application/x-www-form-urlencoded";

        private static readonly string[] Kinds =
        [
            "truncated escape", "bad UTF-8", "deep nesting", "huge key", "flipped bytes", "random bytes",
            "bad chunking", "wrong content type", "forged token", "JSON variant", "glued or cut pair", "genuine",
        ];

        private readonly string[] _forms;
        private readonly string[] _jsons;

        private Corpus(string[] forms, string[] jsons)
        {
            _forms = forms;
            _jsons = jsons;
        }

        public static Corpus Build(PortalEmulator portal, Random random)
        {
            var names = new[] { EventNames.ExternalCallStart, EventNames.VoximplantCallInit, EventNames.VoximplantCallStart, EventNames.VoximplantCallEnd };
            var forms = new string[256];
            var jsons = new string[forms.Length];
            for (var i = 0; i < forms.Length; i++)
            {
                var callId = $"externalCall.{random.Next():x8}{random.Next():x8}.{1_773_000_000 + i}";
                var data = new Dictionary<string, string>
                {
                    ["CALL_ID"] = callId,
                    ["PHONE_NUMBER"] = $"+1415555{random.Next(10_000):D4}",
                    ["USER_ID"] = random.Next(1, 3).ToString(CultureInfo.InvariantCulture),
                    ["CALL_TYPE"] = "1",
                    ["CALL_FAILED_REASON"] = "Отменен вызов",
                };
                forms[i] = portal.BuildEventBody(names[i % names.Length], data);
                jsons[i] = ToJson(forms[i]);
            }

            return new Corpus(forms, jsons);
        }

        // The same event as JSON: the form's pairs decoded and nested by their brackets.
        private static string ToJson(string form)
        {
            var root = Switchboard.Bitrix24.Wire.PhpFormParser.Parse(form).Root!;
            return System.Text.Json.JsonSerializer.Serialize(ToObject(root));

            static object ToObject(Switchboard.Bitrix24.Wire.FormNode node) => node.IsValue
                ? node.Value!
                : node.Children.ToDictionary(c => c.Key, c => ToObject(c.Value));
        }

        public HostileRequest Next(Random r)
        {
            var kind = Kinds[r.Next(Kinds.Length)];
            var form = _forms[r.Next(_forms.Length)];
            return kind switch
            {
                "truncated escape" => Post(kind, form[..Cut(r, form)] + (r.Next(2) == 0 ? "%" : "%" + "0123456789ABCDEFxz"[r.Next(18)])),
                "bad UTF-8" => Post(kind, Insert(r, Encoding.ASCII.GetBytes(form), r.Next(4) switch
                {
                    0 => "%C3%28"u8.ToArray(),
                    1 => [0xFF, 0xFE],
                    2 => [0xC3],
                    _ => "%ED%A0%80"u8.ToArray(), // an encoded surrogate
                })),
                "deep nesting" => r.Next(2) == 0
                    ? Post(kind, form + "&data" + string.Concat(Enumerable.Repeat("%5Bx%5D", r.Next(5, 200))) + "=1")
                    : Post(kind, Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("{\"a\":", r.Next(5, 400))) + "1" + new string('}', r.Next(0, 400))), "application/json"),
                "huge key" => Post(kind, form + "&data%5B" + new string((char)('A' + r.Next(26)), r.Next(200, 60_000)) + "%5D=1"),
                "flipped bytes" => Post(kind, Flip(r, Encoding.UTF8.GetBytes(form)), r.Next(5) == 0 ? "application/json" : Form),
                "random bytes" => Post(kind, RandomBytes(r, r.Next(0, 4096)), r.Next(2) == 0 ? Form : "application/json"),
                "bad chunking" => BadChunks(r, form),
                "wrong content type" => Post(kind, Encoding.UTF8.GetBytes(form), r.Next(7) switch
                {
                    0 => "text/plain",
                    1 => "multipart/form-data; boundary=x",
                    2 => Form + "; charset=windows-1251",
                    3 => "application/x-www-form-urlencoded\u0001",
                    4 => "ä/ö",
                    5 => null,
                    _ => "application/" + new string('x', r.Next(1, 3000)),
                }),
                "forged token" => Post(kind, Forge(r, form)),
                "JSON variant" => Post(kind, Encoding.UTF8.GetBytes(JsonVariant(r, _jsons[r.Next(_jsons.Length)])), "application/json"),
                "glued or cut pair" => Post(kind, Glue(r, form)),
                _ => Post(kind, Stamp(r, form)),
            };
        }

        private static int Cut(Random r, string text) => r.Next(1, text.Length);

        private static byte[] Insert(Random r, byte[] body, byte[] bad)
        {
            var at = r.Next(body.Length);
            return [.. body.AsSpan(0, at), .. bad, .. body.AsSpan(at)];
        }

        private static byte[] Flip(Random r, byte[] body)
        {
            for (var i = r.Next(1, 8); i > 0; i--)
            {
                body[r.Next(body.Length)] = (byte)r.Next(256);
            }

            return body;
        }

        private static byte[] RandomBytes(Random r, int length)
        {
            var bytes = new byte[length];
            r.NextBytes(bytes);
            return bytes;
        }

        // A fresh ts and CALL_ID, so an accepted copy is a new event rather than a duplicate.
        private static string Stamp(Random r, string form) =>
            form.Replace("&ts=", $"&data%5BFUZZ%5D={r.Next():x8}&ts=", StringComparison.Ordinal);

        private static string Forge(Random r, string form)
        {
            var token = Convert.ToHexStringLower(RandomBytes(r, 16));
            var at = form.IndexOf("auth%5Bapplication_token%5D=", StringComparison.Ordinal);
            return r.Next(3) switch
            {
                // A wrong application token, a missing one, or a made-up portal.
                0 when at >= 0 => form[..at] + "auth%5Bapplication_token%5D=" + token,
                1 when at >= 0 => form[..at].TrimEnd('&'),
                _ => System.Text.RegularExpressions.Regex.Replace(form, "auth%5Bmember_id%5D=[0-9a-f]+", "auth%5Bmember_id%5D=" + token),
            };
        }

        private static string Glue(Random r, string form)
        {
            // Lose one '=' or one '&' (issue 18's corrupted body), or repeat a token field.
            var pairs = form.Split('&');
            var i = r.Next(pairs.Length);
            switch (r.Next(3))
            {
                case 0:
                    pairs[i] = pairs[i].Replace("=", string.Empty, StringComparison.Ordinal);
                    return string.Join('&', pairs);
                case 1 when i + 1 < pairs.Length:
                    pairs[i] += pairs[i + 1];
                    pairs[i + 1] = string.Empty;
                    return string.Join('&', pairs.Where(p => p.Length > 0));
                default:
                    return form + "&auth%5Bapplication_token%5D=" + Convert.ToHexStringLower(RandomBytes(r, 16));
            }
        }

        private static string JsonVariant(Random r, string json) => r.Next(6) switch
        {
            0 => json[..Cut(r, json)],
            1 => json.Replace("\"CALL_ID\"", "\"CALL_ID\":\"x\",\"CALL_ID\"", StringComparison.Ordinal),
            2 => json.Replace("\"USER_ID\":\"", "\"USER_ID\":\"\\uD800", StringComparison.Ordinal),
            3 => json.Replace("\"auth\":{", "\"auth\":{\"refresh_tokn\":\"" + Convert.ToHexStringLower(RandomBytes(r, 16)) + "\",", StringComparison.Ordinal)
                .Replace("\"ts\":\"", "\"ts\":\"9", StringComparison.Ordinal),
            4 => "[" + json + "]",
            _ => json.Replace("\"data\":{", "\"data\":{\"N\":" + new string('9', r.Next(1, 5000)) + ",", StringComparison.Ordinal),
        };

        private static HostileRequest BadChunks(Random r, string form)
        {
            var first = form[..Cut(r, form)];
            var tail = r.Next(6) switch
            {
                0 => "zz\r\nabc\r\n0\r\n\r\n",
                1 => "FFFFFFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n",
                2 => "-5\r\nabc\r\n0\r\n\r\n",
                3 => "3\r\nabcXY0\r\n\r\n",
                4 => "0\r\nnot a header\r\n\r\n",
                // More than Kestrel's 1 MiB limit in one chunk, in one write.
                _ => $"{1_100_000:x}\r\n{new string('x', 1_100_000)}\r\n0\r\n\r\n",
            };
            var text = $"POST /bitrix24/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {Form}\r\nTransfer-Encoding: chunked\r\n\r\n{first.Length:x}\r\n{first}\r\n{tail}";
            return new HostileRequest("bad chunking", Encoding.Latin1.GetBytes(text));
        }

        private static HostileRequest Post(string kind, string body) => Post(kind, Encoding.UTF8.GetBytes(body));

        private static HostileRequest Post(string kind, byte[] body, string? contentType = Form)
        {
            var head = new StringBuilder("POST /bitrix24/events HTTP/1.1\r\nHost: 127.0.0.1\r\n");
            if (contentType is not null)
            {
                head.Append("Content-Type: ").Append(contentType).Append("\r\n");
            }

            head.Append(CultureInfo.InvariantCulture, $"Content-Length: {body.Length}\r\n\r\n");
            return new HostileRequest(kind, [.. Encoding.UTF8.GetBytes(head.ToString()), .. body]);
        }
    }

    /// <summary>What came back: a status (0: the connection ended without one), the problem's title, and whether the connection is done.</summary>
    private readonly record struct Answer(int Status, string? Title, bool Close);

    /// <summary>One keep-alive HTTP/1.1 connection that reads answers by Content-Length or chunked framing.</summary>
    private sealed class Connection : IDisposable
    {
        private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
        private readonly Socket _socket;
        private readonly NetworkStream _stream;
        private readonly byte[] _buffer = new byte[64 * 1024];
        private int _start;
        private int _end;

        private Connection(Socket socket)
        {
            _socket = socket;
            _stream = new NetworkStream(socket, ownsSocket: true);
        }

        public static async Task<Connection> OpenAsync(int port, CancellationToken ct)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), ct);
            return new Connection(socket);
        }

        public async Task<Answer> ExchangeAsync(byte[] request, CancellationToken ct)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(Timeout);
            try
            {
                // Written while the answer is read: the server may answer (413) and close before taking it all.
                var write = WriteAsync(request, timeout.Token);
                var answer = await ReadAnswerAsync(timeout.Token);
                await write;
                return answer;
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException && !ct.IsCancellationRequested)
            {
                return new Answer(0, null, Close: true);
            }
        }

        private async Task WriteAsync(byte[] request, CancellationToken ct)
        {
            try
            {
                await _stream.WriteAsync(request, ct);
            }
            catch (Exception ex) when (ex is IOException or SocketException)
            {
                // The server stopped reading (it answered first and closed): the answer says what happened.
            }
        }

        private async Task<Answer> ReadAnswerAsync(CancellationToken ct)
        {
            var statusLine = await ReadLineAsync(ct);
            if (statusLine is null)
            {
                return new Answer(0, null, Close: true);
            }

            var status = int.Parse(statusLine.Split(' ')[1], CultureInfo.InvariantCulture);
            long length = 0;
            var chunked = false;
            var close = false;
            string? line;
            while (!string.IsNullOrEmpty(line = await ReadLineAsync(ct)))
            {
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                var name = line[..colon].Trim();
                var value = line[(colon + 1)..].Trim();
                if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                {
                    length = long.Parse(value, CultureInfo.InvariantCulture);
                }
                else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
                {
                    chunked = value.Contains("chunked", StringComparison.OrdinalIgnoreCase);
                }
                else if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
                {
                    close = value.Contains("close", StringComparison.OrdinalIgnoreCase);
                }
            }

            var body = new MemoryStream();
            if (chunked)
            {
                while (true)
                {
                    var size = Convert.ToInt64((await ReadLineAsync(ct))!.Split(';')[0], 16);
                    if (size == 0)
                    {
                        while (!string.IsNullOrEmpty(await ReadLineAsync(ct)))
                        {
                        }

                        break;
                    }

                    await ReadExactlyAsync(body, size, ct);
                    await ReadLineAsync(ct);
                }
            }
            else
            {
                await ReadExactlyAsync(body, length, ct);
            }

            string? title = null;
            if (status >= 500 && body.Length > 0)
            {
                try
                {
                    using var json = System.Text.Json.JsonDocument.Parse(body.ToArray());
                    title = json.RootElement.TryGetProperty("title", out var t) ? t.GetString() : null;
                }
                catch (System.Text.Json.JsonException)
                {
                    title = "(not problem details)";
                }
            }

            return new Answer(status, title, close);
        }

        private async Task<bool> FillAsync(CancellationToken ct)
        {
            if (_start == _end)
            {
                _start = _end = 0;
            }
            else if (_end == _buffer.Length)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            var n = await _stream.ReadAsync(_buffer.AsMemory(_end), ct);
            _end += n;
            return n > 0;
        }

        private async Task<string?> ReadLineAsync(CancellationToken ct)
        {
            while (true)
            {
                var at = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n"u8);
                if (at >= 0)
                {
                    var text = Encoding.Latin1.GetString(_buffer, _start, at);
                    _start += at + 2;
                    return text;
                }

                if (!await FillAsync(ct))
                {
                    return null;
                }
            }
        }

        private async Task ReadExactlyAsync(MemoryStream into, long count, CancellationToken ct)
        {
            while (count > 0)
            {
                if (_start == _end && !await FillAsync(ct))
                {
                    throw new IOException("The connection ended inside an answer.");
                }

                var take = (int)Math.Min(count, _end - _start);
                into.Write(_buffer, _start, take);
                _start += take;
                count -= take;
            }
        }

        public void Dispose()
        {
            _stream.Dispose();
            _socket.Dispose();
        }
    }

    /// <summary>Answers by status, by kind and status, and the 5xx that are not an honest 503.</summary>
    private sealed class Tally
    {
        private readonly ConcurrentDictionary<int, int> _byStatus = new();
        private readonly ConcurrentDictionary<(string Kind, int Status), int> _byKind = new();
        private int _dishonest;

        public int Dishonest5xx => _dishonest;

        public void Add(string kind, Answer answer)
        {
            _byStatus.AddOrUpdate(answer.Status, 1, (_, n) => n + 1);
            _byKind.AddOrUpdate((kind, answer.Status), 1, (_, n) => n + 1);
            if (answer.Status >= 500 && !(answer.Status == 503 && answer.Title == "Journal unavailable"))
            {
                Interlocked.Increment(ref _dishonest);
            }
        }

        public void Print(TextWriter output, int count, int connections, int seed, TimeSpan elapsed, CountingLoggerProvider logs)
        {
            output.WriteLine($"requests        {count:N0} on {connections} connections, seed {seed}, {elapsed.TotalSeconds:0.0} s ({count / elapsed.TotalSeconds:N0}/s)");
            output.WriteLine("by status       " + string.Join(", ", _byStatus.OrderBy(p => p.Key).Select(p => $"{Name(p.Key)}: {p.Value:N0}")));
            foreach (var kind in _byKind.Keys.Select(k => k.Kind).Distinct().Order(StringComparer.Ordinal))
            {
                var row = _byKind.Where(p => p.Key.Kind == kind).OrderBy(p => p.Key.Status).Select(p => $"{Name(p.Key.Status)}: {p.Value:N0}");
                output.WriteLine($"  {kind,-20} {string.Join(", ", row)}");
            }

            output.WriteLine($"5xx not an honest 503: {_dishonest}");
            output.WriteLine($"log lines       {logs.Lines:N0} ({logs.Errors} at error or above, {logs.WithException} with an exception), by category[event id]: "
                + string.Join(", ", logs.ByCategory.OrderByDescending(p => p.Value).Select(p => $"{p.Key} {p.Value:N0}")));
        }

        private static string Name(int status) => status == 0 ? "no answer" : status.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>Counts what the server logs, by level: the run fails on an error line (a 500 would log one).</summary>
    private sealed class CountingLoggerProvider : ILoggerProvider
    {
        private int _lines;
        private int _errors;
        private int _withException;

        public int Lines => _lines;

        public int Errors => _errors;

        public int WithException => _withException;

        public ConcurrentDictionary<string, int> ByCategory { get; } = new(StringComparer.Ordinal);

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(CountingLoggerProvider owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                Interlocked.Increment(ref owner._lines);
                owner.ByCategory.AddOrUpdate($"{category[(category.LastIndexOf('.') + 1)..]}[{eventId.Id}]", 1, (_, n) => n + 1);
                if (logLevel >= LogLevel.Error)
                {
                    Interlocked.Increment(ref owner._errors);
                    Console.Error.WriteLine($"server {logLevel}: {formatter(state, exception)} {exception?.GetType().Name}");
                }

                if (exception is not null)
                {
                    Interlocked.Increment(ref owner._withException);
                }
            }
        }
    }
}
