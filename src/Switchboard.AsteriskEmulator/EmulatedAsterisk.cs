using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Switchboard.AsteriskEmulator;

/// <summary>A call the emulator started: the Linkedid all its legs share, and when it has ended.</summary>
/// <param name="Linkedid">The first channel's Uniqueid, which every leg's Linkedid is.</param>
/// <param name="FirstChannel">The first channel's name (e.g. <c>Local/+79161234567@callers-0000000a;1</c>).</param>
/// <param name="Ended">Completes when the call's last channel is gone.</param>
public sealed record EmulatedCall(string Linkedid, string FirstChannel, Task Ended);

/// <summary>One live channel, as CoreShowChannels would list it.</summary>
/// <param name="Name">Channel name.</param>
/// <param name="Uniqueid">Its Uniqueid.</param>
/// <param name="Linkedid">Its Linkedid.</param>
/// <param name="State">ChannelState (6 = Up).</param>
/// <param name="Context">Dialplan context.</param>
/// <param name="Exten">Extension.</param>
/// <param name="BridgeId">The bridge it is in, or empty.</param>
public sealed record EmulatedChannel(string Name, string Uniqueid, string Linkedid, int State, string Context, string Exten, string BridgeId);

/// <summary>
/// An emulated Asterisk 22 on a loopback TCP port speaking AMI: logins (plain and MD5), Ping, Events,
/// Filter, CoreShowChannels, Status, Command, Originate, Hangup, BlindTransfer and Atxfer, and a small
/// office (phones, customers, inbound DIDs, queues) whose calls emit the events a real Asterisk 22.10.1
/// sends. Start calls from any AMI client with Originate, exactly as the lab did, or from code.
/// </summary>
public sealed partial class EmulatedAsterisk : IAsyncDisposable
{
    private readonly ILogger _logger;
    private readonly List<AmiSession> _sessions = [];
    private readonly object _sessionsGate = new();
    private TcpListener? _listener;
    private CancellationTokenSource _stopping = new();
    private Task _acceptLoop = Task.CompletedTask;

    /// <summary>An emulator with <paramref name="options"/> (the lab's defaults when null).</summary>
    public EmulatedAsterisk(AsteriskEmulatorOptions? options = null, TimeProvider? time = null, ILogger<EmulatedAsterisk>? logger = null)
    {
        Options = options ?? new AsteriskEmulatorOptions();
        if (Options.Speed <= 0)
        {
            throw new ArgumentException("Speed must be above 0.", nameof(options));
        }

        _logger = (ILogger?)logger ?? NullLogger.Instance;
        Pbx = new Pbx(Options, time ?? TimeProvider.System);
        Pbx.Emitted += Broadcast;
        Flows = new CallFlows(Pbx, _logger, _stopping.Token);
    }

    /// <summary>The settings in use.</summary>
    public AsteriskEmulatorOptions Options { get; }

    /// <summary>The port it listens on (the chosen one when <see cref="AsteriskEmulatorOptions.Port"/> was 0); 0 before <see cref="StartAsync"/>.</summary>
    public int Port { get; private set; }

    /// <summary>How many AMI sessions are connected.</summary>
    public int SessionCount
    {
        get
        {
            lock (_sessionsGate)
            {
                return _sessions.Count;
            }
        }
    }

    internal Pbx Pbx { get; }

    internal CallFlows Flows { get; private set; }

    /// <summary>Starts listening (again, after <see cref="StopAsync"/>: on the same port, as a restarted Asterisk).</summary>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (_listener is not null)
        {
            return Task.CompletedTask;
        }

        var port = Port != 0 ? Port : Options.Port;
        var listener = new TcpListener(IPAddress.Parse(Options.Host), port);
        listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Start();
        _listener = listener;
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        if (_stopping.IsCancellationRequested)
        {
            _stopping.Dispose();
            _stopping = new CancellationTokenSource();
            Flows = new CallFlows(Pbx, _logger, _stopping.Token);
        }

        lock (Pbx.Gate)
        {
            Pbx.BootedAt = Pbx.Time.GetUtcNow();
        }

        var token = _stopping.Token;
        _acceptLoop = Task.Run(() => AcceptLoopAsync(listener, token), CancellationToken.None);
        LogStarted(_logger, Options.Host, Port);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Stops as <c>core stop now</c> does: every call dies without further events, every AMI session is
    /// closed without a Shutdown event reaching it (reload-and-shutdown.ami), and the port is released.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        var listener = _listener;
        if (listener is null)
        {
            return;
        }

        _listener = null;
        await _stopping.CancelAsync();
        listener.Stop();
        List<Task> calls;
        lock (Pbx.Gate)
        {
            foreach (var ch in Pbx.Channels.Values)
            {
                ch.Recorder?.Dispose();
            }

            Pbx.Channels.Clear();
            calls = [.. Pbx.Calls.Select(c => c.Done.Task)];
        }

        DropAllSessions();
        try
        {
            await _acceptLoop.WaitAsync(cancellationToken);
            await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
        }
        catch (TimeoutException)
        {
            // A call flow still unwinding; it emits nothing more (its token is cancelled).
        }

        LogStopped(_logger);
    }

    /// <summary>Runs until <paramref name="cancellationToken"/> fires, then stops.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await StartAsync(cancellationToken);
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C.
        }

        await StopAsync(CancellationToken.None);
    }

    /// <summary>Cuts every AMI socket at once without ending any call (a network drop, as the client sees it).</summary>
    public void DropAllSessions()
    {
        List<AmiSession> sessions;
        lock (_sessionsGate)
        {
            sessions = [.. _sessions];
            _sessions.Clear();
        }

        foreach (var s in sessions)
        {
            s.Abort();
        }
    }

    /// <summary>
    /// A customer calls <paramref name="did"/> from <paramref name="from"/>: the lab's Originate of
    /// <c>Local/&lt;from&gt;@callers</c> into <c>from-trunk</c>, <c>&lt;did&gt;</c>, with CallerID <c>&lt;from&gt;</c>.
    /// </summary>
    public EmulatedCall StartInboundCall(string from, string did)
    {
        ArgumentException.ThrowIfNullOrEmpty(from);
        ArgumentException.ThrowIfNullOrEmpty(did);
        if (!Options.Dids.ContainsKey(did))
        {
            throw new ArgumentException($"No DID {did} in the emulated office.", nameof(did));
        }

        return Start(new OriginateSpec { Channel = $"Local/{from}@callers", Context = "from-trunk", Exten = did, CallerIdNum = from });
    }

    /// <summary>
    /// A user picks up the desk phone <paramref name="extension"/> and dials <paramref name="number"/>: the lab's
    /// Originate of <c>Local/&lt;ext&gt;@deskphone</c> (or <c>PJSIP/&lt;ext&gt;</c>) into <c>from-internal</c>.
    /// </summary>
    public EmulatedCall StartDeskCall(string extension, string number, string? callerName = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(extension);
        ArgumentException.ThrowIfNullOrEmpty(number);
        var channel = Options.PhoneTechnology == PhoneTechnology.Pjsip ? $"PJSIP/{extension}" : $"Local/{extension}@deskphone";
        return Start(new OriginateSpec
        {
            Channel = channel,
            Context = "from-internal",
            Exten = number,
            CallerIdNum = extension,
            CallerIdName = callerName,
            PlanOverride = LegPlan.AtOnce(Options.DeskPhoneOffHook, null),
        });
    }

    /// <summary>A click-to-call as a connector sends it: Originate the phone, then the dialplan dials <paramref name="number"/>.</summary>
    public EmulatedCall StartClickToCall(string extension, string number, IReadOnlyDictionary<string, string>? variables = null)
    {
        var channel = Options.PhoneTechnology == PhoneTechnology.Pjsip ? $"PJSIP/{extension}" : $"Local/{extension}@phones";
        return Start(new OriginateSpec
        {
            Channel = channel,
            Context = "from-internal",
            Exten = number,
            Variables = variables is null ? [] : [.. variables],
        });
    }

    private EmulatedCall Start(OriginateSpec spec)
    {
        if (!Flows.ExtensionExists(spec.Context, spec.Exten))
        {
            throw new ArgumentException($"Extension {spec.Exten} does not exist in {spec.Context}.", nameof(spec));
        }

        var answered = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (Pbx.Gate)
        {
            var call = Flows.StartOriginate(spec, answered);
            var first = call.Channels.FirstOrDefault();
            return new EmulatedCall(first?.Linkedid ?? "", first?.Name ?? "", call.Done.Task);
        }
    }

    /// <summary>The live channels.</summary>
    public IReadOnlyList<EmulatedChannel> Channels()
    {
        lock (Pbx.Gate)
        {
            return [.. Pbx.Channels.Values.OrderBy(c => c.Created).Select(c => new EmulatedChannel(c.Name, c.Uniqueid, c.Linkedid, c.State, c.Context, c.Exten, c.BridgeId))];
        }
    }

    /// <summary>Hangs up channels by name, Uniqueid, Linkedid, or <c>/regex/</c> on the name (as the Hangup action accepts); how many were found.</summary>
    public int HangupChannels(string channel, int cause = 16)
    {
        lock (Pbx.Gate)
        {
            var targets = Find(channel);
            foreach (var ch in targets)
            {
                ch.Call?.Post(new HangupRequestItem(ch, cause));
            }

            return targets.Count;
        }
    }

    /// <summary>Hangs every call up (a cause-16 hangup of each call's first channel).</summary>
    public void HangupAll()
    {
        lock (Pbx.Gate)
        {
            foreach (var call in Pbx.Calls)
            {
                if (call.Channels.FirstOrDefault(c => !c.Gone) is { } ch)
                {
                    call.Post(new HangupRequestItem(ch, 16));
                }
            }
        }
    }

    /// <summary>
    /// A blind transfer: the party on the other side of <paramref name="transferer"/> (a channel name,
    /// Uniqueid, or the Linkedid of a call: its answered phone transfers) goes to <paramref name="toExtension"/>.
    /// </summary>
    public void BlindTransfer(string transferer, string toExtension)
    {
        if (!TryBlindTransfer(transferer, toExtension))
        {
            throw new ArgumentException($"No bridged channel {transferer}.", nameof(transferer));
        }
    }

    /// <summary>
    /// An attended transfer: the phone of <paramref name="transferer"/> consults <paramref name="toExtension"/>
    /// and, once it answers, hands its party over to it (AttendedTransfer, DestType Bridge).
    /// </summary>
    public void AttendedTransfer(string transferer, string toExtension)
    {
        if (!TryAttendedTransfer(transferer, toExtension))
        {
            throw new ArgumentException($"No bridged channel {transferer}.", nameof(transferer));
        }
    }

    /// <summary>Waits until no call is running.</summary>
    public async Task WaitForIdleAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task[] calls;
            lock (Pbx.Gate)
            {
                calls = [.. Pbx.Calls.Select(c => c.Done.Task)];
            }

            if (calls.Length == 0)
            {
                return;
            }

            await Task.WhenAll(calls).WaitAsync(cancellationToken);
        }
    }

    /// <summary>What to tell a person who started it from the command line.</summary>
    public string DescribeForConsole()
    {
        var sb = new StringBuilder();
        sb.AppendLine($"Asterisk 22 emulator (AMI 11.0.0) listening on {Options.Host}:{Port}");
        sb.AppendLine($"  login: Username {Options.Username}, Secret {Options.Secret} (plain or MD5)");
        sb.AppendLine($"  phones ({Options.PhoneTechnology}): {string.Join(", ", Options.Phones.Select(p => $"{p.Key} {p.Value.Kind}"))}");
        sb.AppendLine($"  DIDs: {string.Join(", ", Options.Dids.Select(d => $"{d.Key} -> {(d.Value.Queue is { } q ? "queue " + q : string.Join("&", d.Value.Extensions))}"))}");
        sb.AppendLine($"  speed: {Options.Speed}x, recordings in {Options.RecordingDirectory ?? Path.Combine(Path.GetTempPath(), "switchboard-asterisk-rec")}");
        sb.AppendLine("  inbound call from any AMI client: Action: Originate / Channel: Local/+79161234567@callers / Context: from-trunk / Exten: 74951234567 / Priority: 1 / CallerID: +79161234567 / Async: true");
        return sb.ToString();
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stopping.Dispose();
    }

    internal void WithPbx(Action<Pbx> action)
    {
        lock (Pbx.Gate)
        {
            action(Pbx);
        }
    }

    internal void Forget(AmiSession session)
    {
        lock (_sessionsGate)
        {
            _sessions.Remove(session);
        }
    }

    internal bool TryBlindTransfer(string transferer, string toExtension) => PostTransfer(transferer, ch => new BlindTransferItem(ch, toExtension));

    internal bool TryAttendedTransfer(string transferer, string toExtension) => PostTransfer(transferer, ch => new AttendedTransferItem(ch, toExtension));

    private bool PostTransfer(string transferer, Func<Channel, CallRequest> make)
    {
        lock (Pbx.Gate)
        {
            // A call's Linkedid names the whole call: its answered phone (the last bridged channel) transfers.
            var call = Pbx.Channels.Values.Where(c => c.Linkedid == transferer && c.BridgeId.Length > 0).OrderBy(c => c.Created).ToList();
            var ch = call.Count > 1 ? call[^1] : null;
            if (ch is null)
            {
                var found = Find(transferer);
                ch = found.FirstOrDefault(c => c.BridgeId.Length > 0);
                if (ch is null && found.Count == 1 && found[0].LocalPeer is { BridgeId.Length: > 0 } peer)
                {
                    ch = peer;
                }
            }

            if (ch?.Call is null)
            {
                return false;
            }

            ch.Call.Post(make(ch));
            return true;
        }
    }

    private List<Channel> Find(string key)
    {
        if (key.Length > 2 && key[0] == '/' && key[^1] == '/')
        {
            var regex = new Regex(key[1..^1], RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
            return [.. Pbx.Channels.Values.Where(c => regex.IsMatch(c.Name))];
        }

        if (Pbx.Channels.TryGetValue(key, out var byName))
        {
            return [byName];
        }

        var byId = Pbx.Channels.Values.Where(c => c.Uniqueid == key).ToList();
        return byId.Count > 0 ? byId : [.. Pbx.Channels.Values.Where(c => c.Linkedid == key).OrderBy(c => c.Created)];
    }

    private void Broadcast(EmittedEvent e)
    {
        AmiSession[] sessions;
        lock (_sessionsGate)
        {
            sessions = [.. _sessions];
        }

        foreach (var s in sessions)
        {
            s.OnEvent(e);
        }
    }

    private async Task AcceptLoopAsync(TcpListener listener, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync(stopping);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            client.NoDelay = true;
            var session = new AmiSession(client, this, _logger, stopping);
            lock (_sessionsGate)
            {
                _sessions.Add(session);
            }

            session.Start();
        }
    }

    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "Asterisk emulator listening on {Host}:{Port}")]
    private static partial void LogStarted(ILogger logger, string host, int port);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Information, Message = "Asterisk emulator stopped")]
    private static partial void LogStopped(ILogger logger);
}
