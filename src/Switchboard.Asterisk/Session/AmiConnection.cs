using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Switchboard.Asterisk.Events;
using Switchboard.Asterisk.Wire;

namespace Switchboard.Asterisk.Session;

/// <summary>The login was refused (<c>Authentication failed</c>, <c>Permission denied</c>…): retrying as is will not help.</summary>
public sealed class AmiLoginException(string message) : Exception(message);

/// <summary>
/// The connection ended while an action was in flight. <see cref="ActionWritten"/> says whether the
/// action's bytes had been handed to the socket: when false, it certainly never reached Asterisk and is
/// safe to send again; when true, its outcome is unknown.
/// </summary>
public sealed class AmiConnectionLostException(string message, bool actionWritten, Exception? inner = null) : IOException(message, inner)
{
    /// <summary>True when the action may have reached Asterisk.</summary>
    public bool ActionWritten { get; } = actionWritten;
}

/// <summary>
/// One logged-in AMI session over TCP. Responses are matched to their actions by ActionID (several
/// actions may be in flight); every event that is not an item of a pending list goes to
/// <see cref="Events"/>, in the order received. Pings keep it alive and detect a dead peer. It never
/// reconnects by itself: when <see cref="Closed"/> completes, open a new one (<see cref="AmiReconnectPolicy"/>).
/// </summary>
/// <remarks>
/// When <see cref="Events"/> is full (<see cref="AmiConnectionOptions.EventBuffer"/>) the connection stops
/// reading the socket until the reader catches up, so responses wait too: a reader that stalls makes
/// actions time out rather than memory grow. The dead-peer clock does not run while reading is paused.
/// </remarks>
public sealed partial class AmiConnection : IAsyncDisposable
{
    private static readonly TimeSpan LogoffTimeout = TimeSpan.FromSeconds(2);

    private readonly AmiConnectionOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly PipeReader _input;
    private readonly AmiFrameReader _frames;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Channel<AmiEvent> _events;
    private readonly ConcurrentDictionary<string, PendingAction> _pending = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _abandonedLists = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource<Exception?> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _shutdown = new();
    private readonly string _actionIdPrefix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)) + "-";
    private long _nextActionId;
    private long _lastReceivedTicks;
    private long _lastHeardTicks;
    private long _eventsReceived;
    private int _closing;
    private int _disposing;
    private volatile bool _pausedForReader;
    private volatile bool _loggingOff;
    private string _banner = string.Empty;
    private Task _readLoop = Task.CompletedTask;
    private Task _keepalive = Task.CompletedTask;

    private AmiConnection(AmiConnectionOptions options, TimeProvider time, ILogger logger, Socket socket)
    {
        _options = options;
        _time = time;
        _logger = logger;
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _input = PipeReader.Create(_stream);
        _frames = new AmiFrameReader(_input, options.Limits);
        _events = Channel.CreateBounded<AmiEvent>(new BoundedChannelOptions(options.EventBuffer)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleWriter = true,
        });
        MarkReceived();
    }

    /// <summary>Connects, reads the banner and logs in.</summary>
    /// <exception cref="AmiLoginException">Asterisk refused the login.</exception>
    /// <exception cref="TimeoutException">No banner or login answer within <see cref="AmiConnectionOptions.ConnectTimeout"/>.</exception>
    /// <exception cref="IOException">The connect failed or the socket closed (a <see cref="System.Net.Sockets.SocketException"/> inside).</exception>
    /// <exception cref="ArgumentException">The options are unusable (see the overload with a logger).</exception>
    public static Task<AmiConnection> OpenAsync(AmiConnectionOptions options, CancellationToken cancellationToken, TimeProvider? time = null) =>
        OpenAsync(options, logger: null, cancellationToken, time);

    /// <summary>Connects, reads the banner and logs in, logging to <paramref name="logger"/> (never the secret).</summary>
    /// <exception cref="AmiLoginException">Asterisk refused the login.</exception>
    /// <exception cref="TimeoutException">No banner or login answer within <see cref="AmiConnectionOptions.ConnectTimeout"/>.</exception>
    /// <exception cref="IOException">The connect failed or the socket closed (a <see cref="System.Net.Sockets.SocketException"/> inside).</exception>
    /// <exception cref="ArgumentException">The options are unusable (no host, a port out of range, a non-positive timeout, DeadAfter not over PingInterval, EventBuffer under 1).</exception>
    public static async Task<AmiConnection> OpenAsync(AmiConnectionOptions options, ILogger? logger, CancellationToken cancellationToken, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);

        // A copy: the caller may change or reuse its options object while this connection lives.
        options = Copy(options);
        Validate(options);
        time ??= TimeProvider.System;
        logger ??= NullLogger.Instance;

        using var timeout = new CancellationTokenSource(options.ConnectTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        AmiConnection? connection = null;
        try
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(options.Host, options.Port, linked.Token).ConfigureAwait(false);
            }
            catch
            {
                socket.Dispose();
                throw;
            }

            connection = new AmiConnection(options, time, logger, socket);
            await connection.StartAsync(linked.Token).ConfigureAwait(false);
            Log.Connected(logger, options.Host, options.Port, connection.AmiVersion, options.Username);
            return connection;
        }
        catch (Exception failure) when (connection is not null || failure is not OperationCanceledException || timeout.IsCancellationRequested)
        {
            var reason = Translate(failure, options, timeout, cancellationToken);
            if (connection is not null)
            {
                connection.Close(reason);
                await connection.StopLoopsAsync().ConfigureAwait(false);
            }

            if (reason is AmiLoginException)
            {
                Log.LoginRefused(logger, options.Host, options.Port, options.Username, reason.Message);
            }

            if (reason == failure)
            {
                throw;
            }

            throw reason;
        }
    }

    /// <summary>The banner line, e.g. <c>Asterisk Call Manager/11.0.0</c>.</summary>
    public string Banner => _banner;

    /// <summary>The AMI version from the banner (<c>11.0.0</c> for Asterisk 22), or null when the banner has none.</summary>
    public string? AmiVersion
    {
        get
        {
            var slash = _banner.LastIndexOf('/');
            return slash < 0 || slash == _banner.Length - 1 ? null : _banner[(slash + 1)..].Trim();
        }
    }

    /// <summary>The events received, typed, in order. Completes when the connection closes.</summary>
    public ChannelReader<AmiEvent> Events => _events.Reader;

    /// <summary>When anything was last received (the dead-peer check uses it).</summary>
    public DateTimeOffset LastReceived => new(Interlocked.Read(ref _lastReceivedTicks), TimeSpan.Zero);

    /// <summary>Completes when the connection has ended; its result says why (null after <see cref="DisposeAsync"/> or a Logoff).</summary>
    public Task<Exception?> Closed => _closed.Task;

    /// <summary>How many events were read off the socket (items of lists excluded); for tests of back-pressure.</summary>
    internal long EventsReceived => Interlocked.Read(ref _eventsReceived);

    /// <summary>Sends an action and waits for its response (for a list action, for its Complete event).</summary>
    /// <exception cref="AmiConnectionLostException">The connection ended first.</exception>
    /// <exception cref="TimeoutException">No response within <see cref="AmiConnectionOptions.ActionTimeout"/> (the connection stays open).</exception>
    /// <exception cref="InvalidOperationException">The action's own ActionID is already in flight.</exception>
    public Task<AmiResponse> SendAsync(AmiAction action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        return SendCoreAsync(action, _options.ActionTimeout, cancellationToken);
    }

    /// <summary>Sends <c>Logoff</c> (best effort) and closes the socket.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposing, 1) == 1)
        {
            await StopLoopsAsync().ConfigureAwait(false);
            return;
        }

        if (!_closed.Task.IsCompleted)
        {
            try
            {
                var timeout = _options.ActionTimeout < LogoffTimeout ? _options.ActionTimeout : LogoffTimeout;
                await SendCoreAsync(new AmiAction("Logoff"), timeout, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or TimeoutException or OperationCanceledException)
            {
                // Best effort: the socket is closed below whatever Asterisk did with the Logoff.
            }
        }

        // The write lock and the shutdown source are not disposed: a late ping may still touch them, and
        // neither holds an OS handle unless a wait handle is asked for.
        Close(null);
        await StopLoopsAsync().ConfigureAwait(false);
    }

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        _banner = await _frames.ReadBannerAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new IOException("The connection closed before the AMI banner.");
        MarkReceived();
        _readLoop = Task.Run(ReadLoopAsync, CancellationToken.None);

        var login = new AmiAction("Login").Add("Username", _options.Username);
        if (_options.AuthType == AmiAuthType.Md5)
        {
            var challenge = await SendCoreAsync(new AmiAction("Challenge").Add("AuthType", "MD5"), Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
            if (!challenge.IsSuccess || challenge.Message["Challenge"] is not { Length: > 0 } nonce)
            {
                throw new AmiLoginException($"Asterisk refused the MD5 challenge for '{_options.Username}': {challenge.Text ?? "no challenge"}");
            }

            login.Add("AuthType", "MD5").Add("Key", Md5Key(nonce, _options.Secret));
        }
        else
        {
            login.Add("Secret", _options.Secret);
        }

        login.Add("Events", _options.Events);
        var answer = await SendCoreAsync(login, Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
        if (!answer.IsSuccess)
        {
            throw new AmiLoginException($"Asterisk refused the login of '{_options.Username}': {answer.Text ?? "no reason given"}");
        }

        _keepalive = Task.Run(KeepaliveAsync, CancellationToken.None);
    }

    /// <summary><c>Key = md5hex(challenge + secret)</c>, lower case (main/manager.c, authenticate).</summary>
    [SuppressMessage("Security", "CA5351:Do Not Use Broken Cryptographic Algorithms", Justification = "AMI's challenge login is defined with MD5; it keeps the secret off the wire.")]
    private static string Md5Key(string challenge, string secret) =>
        Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(challenge + secret)));

    private async Task<AmiResponse> SendCoreAsync(AmiAction action, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var id = action.ActionId ?? _actionIdPrefix + Interlocked.Increment(ref _nextActionId).ToString(CultureInfo.InvariantCulture);
        var fields = new List<KeyValuePair<string, string>>(action.Fields.Count + 2) { new("Action", action.Name), new("ActionID", id) };
        fields.AddRange(action.Fields.Where(f => !f.Key.Equals("ActionID", StringComparison.OrdinalIgnoreCase)));
        var buffer = new ArrayBufferWriter<byte>();
        new AmiMessage(fields).WriteTo(buffer);

        var pending = new PendingAction(action.Name);
        if (!_pending.TryAdd(id, pending))
        {
            throw new InvalidOperationException($"ActionID '{id}' is already in flight on this connection.");
        }

        if (_closed.Task.IsCompleted)
        {
            _pending.TryRemove(new(id, pending));
            throw Lost(action.Name, written: false, _closed.Task.Result);
        }

        if (action.Name.Equals("Logoff", StringComparison.OrdinalIgnoreCase))
        {
            _loggingOff = true;
        }

        using var timer = new CancellationTokenSource(timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        var write = Task.CompletedTask;
        try
        {
            // A peer that stops reading stalls the socket write; the caller's timeout still applies to it.
            write = WriteAsync(buffer.WrittenMemory, pending, linked.Token);
            await write.WaitAsync(linked.Token).ConfigureAwait(false);
            return await pending.Completion.Task.WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!write.IsCompleted)
        {
            _ = write.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            if (timer.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                Log.ActionTimedOut(_logger, action.Name, id, timeout);
                throw new TimeoutException($"No response to AMI action {action.Name} within {timeout} (its write did not finish).");
            }

            throw;
        }
        catch (OperationCanceledException) when (timer.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            if (pending.IsList)
            {
                _abandonedLists.TryAdd(id, 0);
            }

            Log.ActionTimedOut(_logger, action.Name, id, timeout);
            throw new TimeoutException($"No response to AMI action {action.Name} within {timeout}.");
        }
        finally
        {
            _pending.TryRemove(new(id, pending));
        }
    }

    private async Task WriteAsync(ReadOnlyMemory<byte> bytes, PendingAction pending, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_closed.Task.IsCompleted)
            {
                throw Lost(pending.Name, written: false, _closed.Task.Result);
            }

            // Counted as written from the first byte on: a broken write may still have delivered the whole action.
            pending.Written = true;
            await _stream.WriteAsync(bytes, _shutdown.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException
            && pending.Written && e is not AmiConnectionLostException)
        {
            var reason = _closed.Task.IsCompleted ? _closed.Task.Result : new IOException("Writing to the AMI socket failed.", e);
            Close(reason);
            throw Lost(pending.Name, written: true, reason);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task ReadLoopAsync()
    {
        Exception? reason;
        try
        {
            while (true)
            {
                var message = await _frames.ReadMessageAsync(_shutdown.Token).ConfigureAwait(false);
                if (message is null)
                {
                    reason = _loggingOff ? null : new IOException("Asterisk closed the AMI connection.");
                    break;
                }

                MarkReceived();
                await DispatchAsync(message).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_shutdown.IsCancellationRequested)
        {
            reason = null;
        }
        catch (AmiProtocolException e)
        {
            reason = e;
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            reason = _loggingOff ? null : e as IOException ?? new IOException("Reading the AMI socket failed.", e);
        }
        catch (Exception e)
        {
            // Whatever broke the loop, Closed must complete and pending actions must fail.
            reason = e;
        }

        Close(reason);
        await _input.CompleteAsync().ConfigureAwait(false);
    }

    private async ValueTask DispatchAsync(AmiMessage message)
    {
        var id = message.ActionId;
        if (message.EventName is not null)
        {
            // OriginateResponse carries both Event and Response: it is an event.
            if (id is not null && _pending.TryGetValue(id, out var list) && list.IsList && !list.Completion.Task.IsCompleted)
            {
                if (IsListComplete(message))
                {
                    list.Completion.TrySetResult(new AmiResponse(list.Response!, [.. list.Items], message));
                }
                else
                {
                    list.Items.Add(AmiEvent.From(message));
                }

                return;
            }

            if (id is not null && !_abandonedLists.IsEmpty && _abandonedLists.ContainsKey(id))
            {
                if (IsListComplete(message))
                {
                    _abandonedLists.TryRemove(id, out _);
                }

                Log.DroppedLateListItem(_logger, message.EventName, id);
                return;
            }

            Interlocked.Increment(ref _eventsReceived);
            var typed = AmiEvent.From(message);
            if (!_events.Writer.TryWrite(typed))
            {
                _pausedForReader = true;
                try
                {
                    await _events.Writer.WriteAsync(typed, _shutdown.Token).ConfigureAwait(false);
                }
                finally
                {
                    _pausedForReader = false;
                    Interlocked.Exchange(ref _lastHeardTicks, _time.GetUtcNow().UtcTicks);
                }
            }

            return;
        }

        if (message.Response is null)
        {
            Log.IgnoredPacket(_logger, message.Count);
            return;
        }

        if (message.Response.Equals("Goodbye", StringComparison.OrdinalIgnoreCase))
        {
            _loggingOff = true;
        }

        if (id is null || !_pending.TryGetValue(id, out var pending))
        {
            if (id is not null && IsListStart(message))
            {
                _abandonedLists.TryAdd(id, 0);
            }

            Log.UnmatchedResponse(_logger, id);
            return;
        }

        if (IsListStart(message))
        {
            pending.Response = message;
            pending.IsList = true;
            return;
        }

        pending.Completion.TrySetResult(new AmiResponse(message, [], null));
    }

    private static bool IsListStart(AmiMessage message) =>
        string.Equals(message["EventList"], "start", StringComparison.OrdinalIgnoreCase);

    private static bool IsListComplete(AmiMessage message) =>
        string.Equals(message["EventList"], "Complete", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Pings after <see cref="AmiConnectionOptions.PingInterval"/> of silence and closes the connection after
    /// <see cref="AmiConnectionOptions.DeadAfter"/>: a half-open TCP connection (the PBX rebooted, a NAT
    /// dropped the flow) otherwise looks alive for as long as the OS keeps it. The peer is declared dead
    /// only once a ping has had DeadAfter − PingInterval to be answered, so a pause of this process (a long
    /// GC, a suspended VM) is met with a ping rather than a close.
    /// </summary>
    private async Task KeepaliveAsync()
    {
        var lastPing = DateTimeOffset.MinValue;
        var firstPing = DateTimeOffset.MinValue;
        var answerWindow = _options.DeadAfter - _options.PingInterval;
        try
        {
            while (!_shutdown.IsCancellationRequested)
            {
                if (_pausedForReader)
                {
                    await Task.Delay(_options.PingInterval, _time, _shutdown.Token).ConfigureAwait(false);
                    continue;
                }

                var now = _time.GetUtcNow();
                var heard = new DateTimeOffset(Interlocked.Read(ref _lastHeardTicks), TimeSpan.Zero);
                var pinged = firstPing >= heard;
                var deadAt = pinged ? Later(heard + _options.DeadAfter, firstPing + answerWindow) : DateTimeOffset.MaxValue;
                if (now >= deadAt)
                {
                    Log.PeerDead(_logger, _options.Host, _options.Port, _options.DeadAfter);
                    Close(new TimeoutException($"Nothing received from Asterisk for {now - heard}, not even an answer to a ping: the connection is dead."));
                    return;
                }

                var nextPing = Later(lastPing, heard) + _options.PingInterval;
                if (now >= nextPing)
                {
                    if (!pinged)
                    {
                        firstPing = now;
                        deadAt = Later(heard + _options.DeadAfter, now + answerWindow);
                    }

                    lastPing = now;
                    nextPing = now + _options.PingInterval;
                    _ = PingAsync();
                }

                var wait = (nextPing < deadAt ? nextPing : deadAt) - now;
                await Task.Delay(wait > TimeSpan.FromMilliseconds(1) ? wait : TimeSpan.FromMilliseconds(1), _time, _shutdown.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_shutdown.IsCancellationRequested)
        {
        }
    }

    private static DateTimeOffset Later(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    private async Task PingAsync()
    {
        try
        {
            await SendCoreAsync(new AmiAction("Ping"), _options.DeadAfter, _shutdown.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or TimeoutException or OperationCanceledException or ObjectDisposedException)
        {
            // The keepalive loop judges the connection by what it receives, not by this ping's fate.
        }
    }

    private void MarkReceived()
    {
        var now = _time.GetUtcNow().UtcTicks;
        Interlocked.Exchange(ref _lastReceivedTicks, now);
        Interlocked.Exchange(ref _lastHeardTicks, now);
    }

    private void Close(Exception? reason)
    {
        if (Interlocked.Exchange(ref _closing, 1) == 1)
        {
            return;
        }

        _closed.TrySetResult(reason);
        _shutdown.Cancel();
        _events.Writer.TryComplete();
        foreach (var (_, pending) in _pending)
        {
            pending.Completion.TrySetException(Lost(pending.Name, pending.Written, reason));
        }

        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }

        _stream.Dispose();
        if (reason is null)
        {
            Log.ClosedCleanly(_logger, _options.Host, _options.Port);
        }
        else
        {
            Log.ClosedOnError(_logger, _options.Host, _options.Port, reason.GetType().Name, reason.Message);
        }
    }

    private async Task StopLoopsAsync()
    {
        await _readLoop.ConfigureAwait(false);
        await _keepalive.ConfigureAwait(false);
    }

    private static AmiConnectionLostException Lost(string action, bool written, Exception? reason) =>
        new($"The AMI connection ended before the response to {action}" + (written ? " (the action was sent)." : " (the action was not sent)."), written, reason);

    private static Exception Translate(Exception failure, AmiConnectionOptions options, CancellationTokenSource timeout, CancellationToken cancellationToken) => failure switch
    {
        OperationCanceledException when timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested =>
            new TimeoutException($"No AMI login at {options.Host}:{options.Port} within {options.ConnectTimeout}."),
        SocketException socket => new IOException($"Connecting to AMI at {options.Host}:{options.Port} failed: {socket.SocketErrorCode}.", socket),
        _ => failure,
    };

    private static AmiConnectionOptions Copy(AmiConnectionOptions o) => new()
    {
        Host = o.Host,
        Port = o.Port,
        Username = o.Username,
        Secret = o.Secret,
        AuthType = o.AuthType,
        Events = o.Events,
        ConnectTimeout = o.ConnectTimeout,
        ActionTimeout = o.ActionTimeout,
        PingInterval = o.PingInterval,
        DeadAfter = o.DeadAfter,
        Limits = o.Limits,
        EventBuffer = o.EventBuffer,
    };

    private static void Validate(AmiConnectionOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.Host) || options.Port is <= 0 or > 65535)
        {
            throw new ArgumentException("AMI Host and Port (1-65535) are required.", nameof(options));
        }

        if (options.ConnectTimeout <= TimeSpan.Zero || options.ActionTimeout <= TimeSpan.Zero
            || options.PingInterval <= TimeSpan.Zero || options.DeadAfter <= options.PingInterval)
        {
            throw new ArgumentException("AMI timeouts must be positive and DeadAfter longer than PingInterval.", nameof(options));
        }

        if (options.EventBuffer < 1)
        {
            throw new ArgumentException("AMI EventBuffer must be at least 1.", nameof(options));
        }

        ArgumentNullException.ThrowIfNull(options.Limits);
    }

    /// <summary>One action waiting for its answer. Response, Items and IsList are touched by the read loop only.</summary>
    private sealed class PendingAction(string name)
    {
        public string Name { get; } = name;

        public TaskCompletionSource<AmiResponse> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public volatile bool Written;

        public volatile bool IsList;

        public AmiMessage? Response { get; set; }

        public List<AmiEvent> Items { get; } = [];
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4100, Level = LogLevel.Information, Message = "AMI connected to {Host}:{Port} (AMI {AmiVersion}) as {Username}")]
        public static partial void Connected(ILogger logger, string host, int port, string? amiVersion, string username);

        [LoggerMessage(EventId = 4101, Level = LogLevel.Warning, Message = "AMI login at {Host}:{Port} as {Username} refused: {Reason}")]
        public static partial void LoginRefused(ILogger logger, string host, int port, string username, string reason);

        [LoggerMessage(EventId = 4102, Level = LogLevel.Information, Message = "AMI connection to {Host}:{Port} closed")]
        public static partial void ClosedCleanly(ILogger logger, string host, int port);

        [LoggerMessage(EventId = 4103, Level = LogLevel.Warning, Message = "AMI connection to {Host}:{Port} lost ({ReasonType}: {Reason})")]
        public static partial void ClosedOnError(ILogger logger, string host, int port, string reasonType, string reason);

        [LoggerMessage(EventId = 4104, Level = LogLevel.Warning, Message = "AMI peer {Host}:{Port} silent for {DeadAfter}: closing the connection")]
        public static partial void PeerDead(ILogger logger, string host, int port, TimeSpan deadAfter);

        [LoggerMessage(EventId = 4105, Level = LogLevel.Warning, Message = "AMI action {Action} ({ActionId}) got no response within {Timeout}")]
        public static partial void ActionTimedOut(ILogger logger, string action, string actionId, TimeSpan timeout);

        [LoggerMessage(EventId = 4106, Level = LogLevel.Debug, Message = "AMI response for unknown ActionID {ActionId} ignored")]
        public static partial void UnmatchedResponse(ILogger logger, string? actionId);

        [LoggerMessage(EventId = 4107, Level = LogLevel.Debug, Message = "AMI list item {EventName} of abandoned ActionID {ActionId} dropped")]
        public static partial void DroppedLateListItem(ILogger logger, string eventName, string actionId);

        [LoggerMessage(EventId = 4108, Level = LogLevel.Debug, Message = "AMI packet with neither Event nor Response ignored ({FieldCount} fields)")]
        public static partial void IgnoredPacket(ILogger logger, int fieldCount);
    }
}

/// <summary>Jittered exponential back-off between reconnects: doubled after each failure, capped, reset after a connection that lasted.</summary>
public sealed class AmiReconnectPolicy
{
    private readonly TimeSpan _initial;
    private readonly TimeSpan _max;
    private readonly Random _random;
    private readonly Lock _gate = new();
    private TimeSpan _next;

    /// <summary>Starts at <paramref name="initial"/> (500 ms), caps at <paramref name="max"/> (30 s).</summary>
    public AmiReconnectPolicy(TimeSpan? initial = null, TimeSpan? max = null, Random? random = null)
    {
        _initial = initial ?? TimeSpan.FromMilliseconds(500);
        _max = max ?? TimeSpan.FromSeconds(30);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(_initial, TimeSpan.Zero, nameof(initial));
        ArgumentOutOfRangeException.ThrowIfLessThan(_max, _initial, nameof(max));
        _random = random ?? Random.Shared;
        _next = _initial;
    }

    /// <summary>The delay before the next attempt, ±20 % jitter, never over the cap.</summary>
    public TimeSpan NextDelay()
    {
        lock (_gate)
        {
            var basis = _next;
            _next = basis * 2 < _max ? basis * 2 : _max;

            // Jitter spreads the reconnects of many clients after one Asterisk restart.
            var jittered = basis * (0.8 + (0.4 * _random.NextDouble()));
            return jittered < _max ? jittered : _max;
        }
    }

    /// <summary>A connection succeeded and stayed up: the next failure starts from the initial delay again.</summary>
    public void Reset()
    {
        lock (_gate)
        {
            _next = _initial;
        }
    }
}
