using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Switchboard.Asterisk.Wire;

namespace Switchboard.AsteriskEmulator;

/// <summary>
/// One AMI session (main/manager.c session_do): the banner, then actions read one packet at a time and
/// answered in order; events the session may read are queued behind the answers, so every client sees
/// one consistent order.
/// </summary>
internal sealed partial class AmiSession : IAsyncDisposable
{
    private const string Banner = "Asterisk Call Manager/11.0.0\r\n";
    private static readonly string[] AllClasses = ["system", "call", "log", "verbose", "command", "agent", "user", "config", "dtmf", "reporting", "cdr", "dialplan", "originate", "agi", "cc", "aoc", "test", "security", "message"];

    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private readonly EmulatedAsterisk _owner;
    private readonly ILogger _logger;
    private readonly System.Threading.Channels.Channel<AmiMessage?> _outbox = System.Threading.Channels.Channel.CreateUnbounded<AmiMessage?>(new() { SingleReader = true });
    private readonly CancellationTokenSource _cts;
    private readonly List<(Regex Regex, bool Exclude)> _filters = [];
    private readonly object _filterGate = new();
    private HashSet<string> _eventClasses = new(AllClasses, StringComparer.OrdinalIgnoreCase);
    private volatile bool _authenticated;
    private string? _challenge;

    public AmiSession(TcpClient client, EmulatedAsterisk owner, ILogger logger, CancellationToken stopping)
    {
        _client = client;
        _stream = client.GetStream();
        _owner = owner;
        _logger = logger;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        Id = "0x" + RandomNumberGenerator.GetInt32(0x10000000, int.MaxValue).ToString("x", CultureInfo.InvariantCulture);
    }

    public string Id { get; }

    public Task Completion { get; private set; } = Task.CompletedTask;

    public void Start() => Completion = Task.WhenAll(Task.Run(ReadLoopAsync), Task.Run(WriteLoopAsync));

    /// <summary>Cuts the socket now, as a crashed or restarted Asterisk does: nothing more is sent.</summary>
    public void Abort()
    {
        _outbox.Writer.TryComplete();
        _cts.Cancel();
        try
        {
            _client.Client?.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // Already closed by the peer.
        }
        catch (ObjectDisposedException)
        {
            // Already closed here.
        }

        _client.Dispose();
    }

    /// <summary>Called under the PBX gate for each event: queues it when this session reads its class and its filters let it through.</summary>
    public void OnEvent(EmittedEvent e)
    {
        if (!_authenticated || !_eventClasses.Contains(e.Class) || !PassesFilters(e.Message))
        {
            return;
        }

        _outbox.Writer.TryWrite(e.Message);
    }

    private bool PassesFilters(AmiMessage message)
    {
        lock (_filterGate)
        {
            if (_filters.Count == 0)
            {
                return true;
            }

            // manager.conf.sample / manager.c match_filter (legacy): includes only → any match passes;
            // excludes only → any match drops; both → includes first, then excludes.
            var text = new StringBuilder();
            foreach (var f in message)
            {
                text.Append(f.Key).Append(": ").Append(f.Value).Append("\r\n");
            }

            var s = text.ToString();
            var includes = _filters.Where(f => !f.Exclude).ToList();
            var excludes = _filters.Where(f => f.Exclude).ToList();
            if (includes.Count > 0 && !includes.Any(f => f.Regex.IsMatch(s)))
            {
                return false;
            }

            return !excludes.Any(f => f.Regex.IsMatch(s));
        }
    }

    private void Send(params KeyValuePair<string, string>[] fields) => _outbox.Writer.TryWrite(new AmiMessage(fields));

    private static KeyValuePair<string, string> F(string key, string value) => new(key, value);

    private void Respond(AmiMessage action, string response, params KeyValuePair<string, string>[] rest)
    {
        var fields = new List<KeyValuePair<string, string>> { F("Response", response) };
        if (action.ActionId is { } id)
        {
            fields.Add(F("ActionID", id));
        }

        fields.AddRange(rest);
        _outbox.Writer.TryWrite(new AmiMessage(fields));
    }

    private void Error(AmiMessage action, string message) => Respond(action, "Error", F("Message", message));

    private void Success(AmiMessage action, string message) => Respond(action, "Success", F("Message", message));

    private async Task WriteLoopAsync()
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        try
        {
            await _stream.WriteAsync(Encoding.ASCII.GetBytes(Banner), _cts.Token);
            await foreach (var message in _outbox.Reader.ReadAllAsync(_cts.Token))
            {
                if (message is null)
                {
                    break;
                }

                buffer.ResetWrittenCount();
                message.WriteTo(buffer);
                while (_outbox.Reader.TryPeek(out var more) && more is not null && buffer.WrittenCount < 64 * 1024)
                {
                    _outbox.Reader.TryRead(out _);
                    more.WriteTo(buffer);
                }

                await _stream.WriteAsync(buffer.WrittenMemory, _cts.Token);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // The client went, or the emulator cut the session.
        }
        finally
        {
            await _cts.CancelAsync();
            _client.Dispose();
            _owner.Forget(this);
        }
    }

    private async Task ReadLoopAsync()
    {
        var reader = new AmiFrameReader(PipeReader.Create(_stream, new StreamPipeReaderOptions(leaveOpen: true)));
        try
        {
            while (!_cts.IsCancellationRequested)
            {
                var message = await reader.ReadMessageAsync(_cts.Token);
                if (message is null)
                {
                    break;
                }

                if (!await HandleAsync(message))
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // A protocol error or a closed socket ends the session, as in manager.c.
        }
        finally
        {
            _outbox.Writer.TryComplete();
        }
    }

    /// <summary>Handles one action; false ends the session (Logoff, failed login).</summary>
    private async Task<bool> HandleAsync(AmiMessage m)
    {
        var action = m["Action"];
        if (string.IsNullOrEmpty(action))
        {
            Error(m, "Missing action in request");
            return true;
        }

        LogAction(_logger, Id, action);
        var name = action.ToUpperInvariant();
        if (!_authenticated && name is not ("LOGIN" or "CHALLENGE" or "LOGOFF"))
        {
            // manager.c process_message: only Login, Challenge and Logoff before authentication.
            Error(m, "Permission denied");
            return true;
        }

        switch (name)
        {
            case "CHALLENGE":
                if (!string.Equals(m["AuthType"], "MD5", StringComparison.OrdinalIgnoreCase))
                {
                    Error(m, "Must specify AuthType");
                    return true;
                }

                _challenge ??= RandomNumberGenerator.GetInt32(100_000_000, int.MaxValue).ToString(CultureInfo.InvariantCulture);
                Respond(m, "Success", F("Challenge", _challenge));
                return true;
            case "LOGIN":
                return await LoginAsync(m);
            case "LOGOFF":
                Respond(m, "Goodbye", F("Message", "Thanks for all the fish."));
                _outbox.Writer.TryWrite(null);
                return false;
            case "PING":
                // manager.c action_ping: Ping: Pong and the time as seconds.microseconds.
                var now = _owner.Pbx.Time.GetUtcNow();
                Respond(m, "Success", F("Ping", "Pong"), F("Timestamp", $"{now.ToUnixTimeSeconds()}.{now.Ticks / 10 % 1_000_000:D6}"));
                return true;
            case "EVENTS":
                var on = SetEventMask(m["EventMask"]);
                Respond(m, "Success", F("Events", on ? "On" : "Off"));
                return true;
            case "FILTER":
                AddFilter(m);
                return true;
            case "CORESHOWCHANNELS":
                _owner.WithPbx(_ => CoreShowChannels(m));
                return true;
            case "STATUS":
                _owner.WithPbx(_ => Status(m));
                return true;
            case "COMMAND":
                _owner.WithPbx(_ => Command(m));
                return true;
            case "ORIGINATE":
                await OriginateAsync(m);
                return true;
            case "HANGUP":
                Hangup(m);
                return true;
            case "BLINDTRANSFER":
                Transfer(m, attended: false);
                return true;
            case "ATXFER":
                Transfer(m, attended: true);
                return true;
            default:
                Error(m, $"Invalid/unknown command: {action}. Use Action: ListCommands to show available commands.");
                return true;
        }
    }

    private async Task<bool> LoginAsync(AmiMessage m)
    {
        var o = _owner.Options;
        var userOk = string.Equals(m["Username"], o.Username, StringComparison.Ordinal);
        bool secretOk;
        if (string.Equals(m["AuthType"], "MD5", StringComparison.OrdinalIgnoreCase))
        {
            // manager_doc.xml Login / manager.c authenticate: Key = md5hex(challenge + secret). MD5 is what
            // the AMI protocol fixes; the emulator must speak it.
#pragma warning disable CA5351
            var expected = _challenge is null ? null : Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(_challenge + o.Secret)));
#pragma warning restore CA5351
            secretOk = expected is not null && string.Equals(m["Key"], expected, StringComparison.OrdinalIgnoreCase);
        }
        else
        {
            secretOk = string.Equals(m["Secret"], o.Secret, StringComparison.Ordinal);
        }

        if (!userOk || !secretOk)
        {
            // manager.c authenticate(): sleep 1 s, answer, close.
            LogLoginFailed(_logger, Id);
            await Task.Delay(o.AuthFailureDelay, _owner.Pbx.Time, _cts.Token);
            Error(m, "Authentication failed");
            _outbox.Writer.TryWrite(null);
            return false;
        }

        SetEventMask(m["Events"]);
        _owner.WithPbx(pbx =>
        {
            Success(m, "Authentication accepted");
            _authenticated = true;

            // manager.c: a booted Asterisk tells a session that reads system events it is FullyBooted, then
            // the security framework's SuccessfulAuth (c2c-answered.ami).
            var uptime = Pbx.Seconds(pbx.Time.GetUtcNow() - pbx.BootedAt);
            Deliver(new EmittedEvent("system", new AmiMessage([F("Event", "FullyBooted"), F("Privilege", "system,all"), F("Uptime", uptime), F("LastReload", uptime), F("Status", "Fully Booted")])));
            var tv = pbx.Time.GetUtcNow().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'+0000'", CultureInfo.InvariantCulture);
            var local = (IPEndPoint)_client.Client.LocalEndPoint!;
            var remote = (IPEndPoint)_client.Client.RemoteEndPoint!;
            Deliver(new EmittedEvent("security", new AmiMessage(
            [
                F("Event", "SuccessfulAuth"), F("Privilege", "security,all"), F("EventTV", tv), F("Severity", "Informational"), F("Service", "AMI"),
                F("EventVersion", "1"), F("AccountID", o.Username), F("SessionID", Id),
                F("LocalAddress", $"IPV4/TCP/{local.Address}/{local.Port}"), F("RemoteAddress", $"IPV4/TCP/{remote.Address}/{remote.Port}"),
                F("UsingPassword", "0"), F("SessionTV", tv),
            ])));
        });
        return true;
    }

    private void Deliver(EmittedEvent e) => OnEvent(e);

    /// <summary>manager.c set_eventmask: on / off / a class list; absent = everything the user may read.</summary>
    private bool SetEventMask(string? mask)
    {
        var value = mask?.Trim() ?? "on";
        HashSet<string> classes;
        if (value.Length == 0 || IsTrue(value) || value.Equals("all", StringComparison.OrdinalIgnoreCase))
        {
            classes = new(AllClasses, StringComparer.OrdinalIgnoreCase);
        }
        else if (IsFalse(value))
        {
            classes = new(StringComparer.OrdinalIgnoreCase);
        }
        else
        {
            classes = new(value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), StringComparer.OrdinalIgnoreCase);
        }

        _eventClasses = classes;
        return classes.Count > 0;
    }

    internal static bool IsTrue(string? s) => s is not null && (s.Equals("yes", StringComparison.OrdinalIgnoreCase) || s.Equals("true", StringComparison.OrdinalIgnoreCase) || s.Equals("y", StringComparison.OrdinalIgnoreCase) || s.Equals("t", StringComparison.OrdinalIgnoreCase) || s == "1" || s.Equals("on", StringComparison.OrdinalIgnoreCase));

    private static bool IsFalse(string s) => s.Equals("no", StringComparison.OrdinalIgnoreCase) || s.Equals("false", StringComparison.OrdinalIgnoreCase) || s.Equals("n", StringComparison.OrdinalIgnoreCase) || s.Equals("f", StringComparison.OrdinalIgnoreCase) || s == "0" || s.Equals("off", StringComparison.OrdinalIgnoreCase);

    private void AddFilter(AmiMessage m)
    {
        // manager_doc.xml Filter: Operation Add (the only one), Filter a regex, '!' excludes.
        var operation = m["Operation"] ?? "Add";
        var filter = m["Filter"];
        if (!operation.Equals("Add", StringComparison.OrdinalIgnoreCase) || string.IsNullOrEmpty(filter))
        {
            Error(m, "Unknown operation");
            return;
        }

        var exclude = filter.StartsWith('!');
        Regex regex;
        try
        {
            regex = new Regex(exclude ? filter[1..] : filter, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
        }
        catch (ArgumentException)
        {
            Error(m, "Filter Failed");
            return;
        }

        lock (_filterGate)
        {
            _filters.Add((regex, exclude));
        }

        Success(m, "Filter Added Successfully");
    }

    private static string Hms(TimeSpan t) => $"{(int)t.TotalHours:D2}:{t.Minutes:D2}:{t.Seconds:D2}";

    private IEnumerable<Channel> ListedChannels() => _owner.Pbx.Channels.Values.OrderBy(c => c.Created).ThenByDescending(c => c.Name, StringComparer.Ordinal);

    private void CoreShowChannels(AmiMessage m)
    {
        // session-actions.ami: ack with EventList start, one CoreShowChannel each (no Privilege), then Complete.
        var now = _owner.Pbx.Now;
        var id = m.ActionId;
        Respond(m, "Success", F("EventList", "start"), F("Message", "Channels will follow"));
        var n = 0;
        foreach (var c in ListedChannels())
        {
            var fields = new List<KeyValuePair<string, string>> { F("Event", "CoreShowChannel") };
            if (id is not null)
            {
                fields.Add(F("ActionID", id));
            }

            fields.AddRange(c.Snapshot());
            fields.Add(F("Application", c.Application));
            fields.Add(F("ApplicationData", c.AppData));
            fields.Add(F("Duration", Hms(now - c.Created)));
            fields.Add(F("BridgeId", c.BridgeId));
            _outbox.Writer.TryWrite(new AmiMessage(fields));
            n++;
        }

        var done = new List<KeyValuePair<string, string>> { F("Event", "CoreShowChannelsComplete") };
        if (id is not null)
        {
            done.Add(F("ActionID", id));
        }

        done.Add(F("EventList", "Complete"));
        done.Add(F("ListItems", n.ToString(CultureInfo.InvariantCulture)));
        _outbox.Writer.TryWrite(new AmiMessage(done));
    }

    private void Status(AmiMessage m)
    {
        var now = _owner.Pbx.Now;
        var id = m.ActionId;
        var only = m["Channel"];
        var channels = ListedChannels().Where(c => string.IsNullOrEmpty(only) || c.Name == only).ToList();
        if (!string.IsNullOrEmpty(only) && channels.Count == 0)
        {
            Error(m, "No such channel");
            return;
        }

        Respond(m, "Success", F("EventList", "start"), F("Message", "Channel status will follow"));
        foreach (var c in channels)
        {
            // session-actions.ami: the snapshot, then these fields, and ActionID last.
            var fields = new List<KeyValuePair<string, string>> { F("Event", "Status"), F("Privilege", "Call") };
            fields.AddRange(c.Snapshot());
            fields.AddRange(
            [
                F("Type", c.Name.StartsWith("PJSIP/", StringComparison.Ordinal) ? "PJSIP" : "Local"), F("DNID", ""),
                F("EffectiveConnectedLineNum", c.ConnectedNum), F("EffectiveConnectedLineName", c.ConnectedName),
                F("TimeToHangup", "0"), F("BridgeID", c.BridgeId), F("Application", c.Application), F("Data", c.AppData),
                F("Nativeformats", "(slin)"), F("Readformat", "slin"), F("Readtrans", ""), F("Writeformat", "slin"), F("Writetrans", ""),
                F("Callgroup", "0"), F("Pickupgroup", "0"), F("Seconds", Pbx.Seconds(now - c.Created)),
            ]);
            if (id is not null)
            {
                fields.Add(F("ActionID", id));
            }

            _outbox.Writer.TryWrite(new AmiMessage(fields));
        }

        var n = channels.Count.ToString(CultureInfo.InvariantCulture);
        var done = new List<KeyValuePair<string, string>> { F("Event", "StatusComplete") };
        if (id is not null)
        {
            done.Add(F("ActionID", id));
        }

        done.AddRange([F("EventList", "Complete"), F("ListItems", n), F("Items", n)]);
        _outbox.Writer.TryWrite(new AmiMessage(done));
    }

    private void Command(AmiMessage m)
    {
        var command = (m["Command"] ?? "").Trim();
        var words = string.Join(' ', command.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        switch (words.ToLowerInvariant())
        {
            case "core show version":
                // session-actions.ami, a real 22.10.1.
                Respond(m, "Success", F("Message", "Command output follows"), F("Output", "Asterisk 22.10.1 built by root @ vm on a x86_64 running Linux on 2026-12-07 11:32:43 UTC"));
                return;
            case "core show channels":
                var lines = new List<KeyValuePair<string, string>> { F("Message", "Command output follows") };
                // main/cli.c handle_chanlist FORMAT_STRING.
                lines.Add(F("Output", string.Format(CultureInfo.InvariantCulture, "{0,-64} {1,-32} {2,-7} {3,-50}", "Channel", "Location", "State", "Application(Data)")));
                var channels = ListedChannels().ToList();
                foreach (var c in channels)
                {
                    lines.Add(F("Output", string.Format(CultureInfo.InvariantCulture, "{0,-64} {1,-32} {2,-7} {3,-50}", c.Name, $"{c.Exten}@{c.Context}:{c.Priority}", Channel.StateDesc(c.State), $"{c.Application}({c.AppData})")));
                }

                var calls = channels.Select(c => c.Linkedid).Distinct().Count();
                lines.Add(F("Output", $"{channels.Count} active channel{(channels.Count == 1 ? "" : "s")}"));
                lines.Add(F("Output", $"{calls} active call{(calls == 1 ? "" : "s")}"));
                Respond(m, "Success", [.. lines]);
                return;
            case "core reload":
                Respond(m, "Success", F("Message", "Command output follows"), F("Output", ""));
                // reload-and-shutdown.ami: a Reload event follows (main/loader.c).
                _owner.Pbx.Emit("Reload", "system,all", [F("Module", "All"), F("Status", "2")]);
                return;
            default:
                // main/cli.c ast_cli_command_full for an unknown command.
                Respond(m, "Error", F("Message", "Command output follows"), F("Output", $"No such command '{command}' (type 'core show help {command}' for other possible commands)"));
                return;
        }
    }

    private void Hangup(AmiMessage m)
    {
        var name = m["Channel"];
        if (string.IsNullOrEmpty(name))
        {
            Error(m, "No channel specified");
            return;
        }

        var cause = int.TryParse(m["Cause"], CultureInfo.InvariantCulture, out var c) ? c : 16;
        var found = _owner.HangupChannels(name, cause);
        if (found == 0)
        {
            Error(m, "No such channel");
            return;
        }

        Success(m, "Channel Hungup");
    }

    private void Transfer(AmiMessage m, bool attended)
    {
        var channel = m["Channel"];
        var exten = m["Exten"];
        if (string.IsNullOrEmpty(channel) || string.IsNullOrEmpty(exten))
        {
            Error(m, attended ? "No channel specified" : "No channel specified");
            return;
        }

        var ok = attended ? _owner.TryAttendedTransfer(channel, exten) : _owner.TryBlindTransfer(channel, exten);
        if (!ok)
        {
            Error(m, "No such channel");
            return;
        }

        // manager.c action_blind_transfer / action_atxfer acknowledgements.
        Success(m, attended ? "Atxfer successfully queued" : "Transfer succeeded");
    }

    private async Task OriginateAsync(AmiMessage m)
    {
        // manager.c action_originate: its checks in this order, then the early extension check.
        var channel = m["Channel"];
        if (string.IsNullOrEmpty(channel))
        {
            Error(m, "Channel not specified");
            return;
        }

        var priorityText = m["Priority"];
        if (!string.IsNullOrEmpty(priorityText) && !int.TryParse(priorityText, CultureInfo.InvariantCulture, out _))
        {
            Error(m, "Invalid priority");
            return;
        }

        var timeoutMs = 30000;
        if (m["Timeout"] is { Length: > 0 } t && (!int.TryParse(t, CultureInfo.InvariantCulture, out timeoutMs) || timeoutMs < 0))
        {
            Error(m, "Invalid timeout");
            return;
        }

        if (!channel.Contains('/', StringComparison.Ordinal))
        {
            Error(m, "Invalid channel");
            return;
        }

        var context = m["Context"];
        var exten = m["Exten"];
        if (!string.IsNullOrEmpty(m["Application"]) && string.IsNullOrEmpty(exten))
        {
            Error(m, "Originate with Application is not supported by the emulator");
            return;
        }

        if (string.IsNullOrEmpty(context) || string.IsNullOrEmpty(exten) || !_owner.Flows.ExtensionExists(context, exten))
        {
            Error(m, "Extension does not exist.");
            return;
        }

        var (cidNum, cidName) = ParseCallerId(m["CallerID"]);
        var variables = new List<KeyValuePair<string, string>>();
        foreach (var v in m.GetAll("Variable"))
        {
            foreach (var pair in v.Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                if (eq > 0)
                {
                    variables.Add(new(pair[..eq].Trim(), pair[(eq + 1)..]));
                }
            }
        }

        var spec = new OriginateSpec
        {
            Channel = channel,
            Context = context,
            Exten = exten,
            Variables = variables,
            TimeoutSeconds = Math.Max(1, timeoutMs / 1000),
            CallerIdNum = cidNum,
            CallerIdName = cidName,
            ChannelId = string.IsNullOrEmpty(m["ChannelId"]) ? null : m["ChannelId"],
            ActionId = m.ActionId,
            Async = IsTrue(m["Async"]),
        };

        var answered = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (spec.Async)
        {
            _owner.WithPbx(_ =>
            {
                Success(m, "Originate successfully queued");
                _owner.Flows.StartOriginate(spec, answered);
            });
            return;
        }

        // A synchronous Originate blocks the session until the first leg answers (manager.c; amiws#68).
        _owner.Flows.StartOriginate(spec, answered);
        if (await answered.Task.WaitAsync(_cts.Token))
        {
            Success(m, "Originate successfully queued");
        }
        else
        {
            Error(m, "Originate failed");
        }
    }

    /// <summary><c>"Name" &lt;num&gt;</c>, <c>Name &lt;num&gt;</c> or a bare number (main/callerid.c ast_callerid_parse).</summary>
    internal static (string? Num, string? Name) ParseCallerId(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return (null, null);
        }

        var lt = value.IndexOf('<', StringComparison.Ordinal);
        var gt = value.IndexOf('>', StringComparison.Ordinal);
        if (lt >= 0 && gt > lt)
        {
            var num = value[(lt + 1)..gt].Trim();
            var name = value[..lt].Trim().Trim('"').Trim();
            return (num.Length == 0 ? null : num, name.Length == 0 ? null : name);
        }

        return (value.Trim(), null);
    }

    public ValueTask DisposeAsync()
    {
        Abort();
        _cts.Dispose();
        return ValueTask.CompletedTask;
    }

    [LoggerMessage(EventId = 7101, Level = LogLevel.Debug, Message = "AMI session {SessionId}: action {Action}")]
    private static partial void LogAction(ILogger logger, string sessionId, string action);

    [LoggerMessage(EventId = 7102, Level = LogLevel.Information, Message = "AMI session {SessionId}: authentication failed")]
    private static partial void LogLoginFailed(ILogger logger, string sessionId);
}
