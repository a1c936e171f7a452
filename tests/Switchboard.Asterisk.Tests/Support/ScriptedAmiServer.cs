using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Switchboard.Asterisk.Session;
using Switchboard.Asterisk.Wire;

namespace Switchboard.Asterisk.Tests.Support;

/// <summary>
/// A small AMI server on 127.0.0.1 that plays Asterisk for the connection tests: it sends the banner,
/// answers Challenge and Login (checking the MD5 key as main/manager.c does), Ping and Logoff, and hands
/// every other action to <see cref="OnAction"/>, which answers it or replays transcript bytes.
/// </summary>
internal sealed class ScriptedAmiServer : IAsyncDisposable
{
    public const string Username = "switchboard";
    public const string Secret = "s3cr3t-Pa55";
    public const string ChallengeNonce = "179242091";

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Channel<ScriptedAmiSession> _sessions = Channel.CreateUnbounded<ScriptedAmiSession>();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private TaskCompletionSource _actionArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ScriptedAmiServer()
    {
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string Banner { get; set; } = "Asterisk Call Manager/11.0.0";

    /// <summary>False: accept the TCP connection and never say a word.</summary>
    public bool SendBanner { get; set; } = true;

    public bool AnswerPings { get; set; } = true;

    /// <summary>Answers an action after login; null answers <c>Response: Success</c>.</summary>
    public Func<ScriptedAmiSession, AmiMessage, Task>? OnAction { get; set; }

    /// <summary>Every action received, on every session, in order.</summary>
    public ConcurrentQueue<AmiMessage> Actions { get; } = new();

    public AmiConnectionOptions Options(AmiAuthType auth = AmiAuthType.Md5, string secret = Secret) => new()
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = Username,
        Secret = secret,
        AuthType = auth,
        ConnectTimeout = TimeSpan.FromSeconds(10),
        ActionTimeout = TimeSpan.FromSeconds(10),
        PingInterval = TimeSpan.FromSeconds(30),
        DeadAfter = TimeSpan.FromSeconds(90),
    };

    public async Task<ScriptedAmiSession> NextSessionAsync() =>
        await _sessions.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));

    /// <summary>Waits (with a deadline) until an action named <paramref name="name"/> has arrived <paramref name="count"/> times.</summary>
    public async Task<AmiMessage> WaitForActionAsync(string name, int count = 1)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            var arrived = Volatile.Read(ref _actionArrived);
            var matching = Actions.Where(a => string.Equals(a["Action"], name, StringComparison.OrdinalIgnoreCase)).ToList();
            if (matching.Count >= count)
            {
                return matching[count - 1];
            }

            try
            {
                await arrived.Task.WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"The server did not receive {count} x {name}.");
            }
        }
    }

    internal void Record(AmiMessage action)
    {
        Actions.Enqueue(action);
        Interlocked.Exchange(ref _actionArrived, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        while (_sessions.Reader.TryRead(out var session))
        {
            session.Abort();
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                var session = new ScriptedAmiSession(this, client);
                _sessions.Writer.TryWrite(session);
                session.Start(_stop.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
    }

    internal static string Md5Key(string challenge, string secret) =>
#pragma warning disable CA5351 // AMI's challenge login is MD5 by definition.
        Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(challenge + secret)));
#pragma warning restore CA5351
}

/// <summary>One accepted client: the test may write to it at any time, and <see cref="Abort"/> it.</summary>
internal sealed class ScriptedAmiSession
{
    private readonly ScriptedAmiServer _server;
    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private int _aborted;

    public ScriptedAmiSession(ScriptedAmiServer server, TcpClient client)
    {
        _server = server;
        _client = client;
        _stream = client.GetStream();
    }

    public bool LoggedIn { get; private set; }

    /// <summary>Completes when the client's side ended (clean end, error or abort).</summary>
    public Task Completed { get; private set; } = Task.CompletedTask;

    public void Start(CancellationToken stop) => Completed = Task.Run(() => RunAsync(stop), CancellationToken.None);

    public Task SendAsync(params (string Key, string Value)[] fields) =>
        SendAsync(new AmiMessage(fields.Select(f => new KeyValuePair<string, string>(f.Key, f.Value))));

    public Task SendAsync(AmiMessage message)
    {
        var buffer = new ArrayBufferWriter<byte>();
        message.WriteTo(buffer);
        return SendRawAsync(buffer.WrittenMemory);
    }

    public async Task SendRawAsync(ReadOnlyMemory<byte> bytes)
    {
        await _writeLock.WaitAsync();
        try
        {
            await _stream.WriteAsync(bytes);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Replays transcript bytes with the recorded ActionID replaced by the client's.</summary>
    public Task ReplayAsync(byte[] bytes, string recordedActionId, string actionId) =>
        SendRawAsync(Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(bytes)
            .Replace($"ActionID: {recordedActionId}\r\n", $"ActionID: {actionId}\r\n", StringComparison.Ordinal)));

    /// <summary>Closes the socket at once (RST-free close; the client sees the end of the stream).</summary>
    public void Abort()
    {
        if (Interlocked.Exchange(ref _aborted, 1) == 1)
        {
            return;
        }

        try
        {
            _client.Client.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }

        _client.Dispose();
    }

    private async Task RunAsync(CancellationToken stop)
    {
        try
        {
            if (!_server.SendBanner)
            {
                await Task.Delay(Timeout.Infinite, stop);
                return;
            }

            await SendRawAsync(Encoding.ASCII.GetBytes(_server.Banner + "\r\n"));
            var reader = new AmiFrameReader(PipeReader.Create(_stream));
            string? challenge = null;
            while (await reader.ReadMessageAsync(stop) is { } action)
            {
                _server.Record(action);
                var id = action.ActionId ?? string.Empty;
                switch (action["Action"]?.ToUpperInvariant())
                {
                    case "CHALLENGE":
                        challenge = ScriptedAmiServer.ChallengeNonce;
                        await SendAsync(("Response", "Success"), ("ActionID", id), ("Challenge", challenge));
                        break;
                    case "LOGIN":
                        var good = action["Username"] == ScriptedAmiServer.Username && (
                            string.Equals(action["AuthType"], "MD5", StringComparison.OrdinalIgnoreCase)
                                ? challenge is not null && action["Key"] == ScriptedAmiServer.Md5Key(challenge, ScriptedAmiServer.Secret)
                                : action["Secret"] == ScriptedAmiServer.Secret);
                        if (!good)
                        {
                            await SendAsync(("Response", "Error"), ("ActionID", id), ("Message", "Authentication failed"));
                            Abort();
                            return;
                        }

                        LoggedIn = true;
                        await SendAsync(("Response", "Success"), ("ActionID", id), ("Message", "Authentication accepted"));
                        await SendAsync(("Event", "FullyBooted"), ("Privilege", "system,all"), ("Uptime", "3"), ("LastReload", "3"), ("Status", "Fully Booted"));
                        break;
                    case "PING":
                        if (_server.AnswerPings)
                        {
                            await SendAsync(("Response", "Success"), ("ActionID", id), ("Ping", "Pong"), ("Timestamp", "1796644022.153691"));
                        }

                        break;
                    case "LOGOFF":
                        await SendAsync(("Response", "Goodbye"), ("ActionID", id), ("Message", "Thanks for all the fish."));
                        Abort();
                        return;
                    default:
                        if (!LoggedIn)
                        {
                            await SendAsync(("Response", "Error"), ("ActionID", id), ("Message", "Permission denied"));
                        }
                        else if (_server.OnAction is { } onAction)
                        {
                            await onAction(this, action);
                        }
                        else
                        {
                            await SendAsync(("Response", "Success"), ("ActionID", id));
                        }

                        break;
                }
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
        finally
        {
            Abort();
        }
    }
}
