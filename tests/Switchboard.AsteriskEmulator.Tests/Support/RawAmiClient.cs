using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Switchboard.Asterisk.Wire;

namespace Switchboard.AsteriskEmulator.Tests.Support;

/// <summary>
/// A bare AMI client over a real socket: sends packets, keeps every packet received in order, and waits
/// for one that matches. Tests see exactly the bytes the emulator sends, with no client logic between.
/// </summary>
public sealed class RawAmiClient : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly AmiFrameReader _reader;
    private readonly List<AmiMessage> _received = [];
    private readonly SemaphoreSlim _arrived = new(0);
    private readonly CancellationTokenSource _cts = new();
    private Task _loop = Task.CompletedTask;
    private int _nextId;

    private RawAmiClient(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
        _reader = new AmiFrameReader(PipeReader.Create(_stream));
    }

    public string Banner { get; private set; } = "";

    /// <summary>Why the read loop ended, if it did with an error.</summary>
    public Exception? Failure { get; private set; }

    /// <summary>Completes when the server closed the socket.</summary>
    public TaskCompletionSource Closed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static async Task<RawAmiClient> ConnectAsync(int port)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        var client = new RawAmiClient(tcp);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        client.Banner = await client._reader.ReadBannerAsync(timeout.Token) ?? "";
        client._loop = Task.Run(client.ReadLoopAsync);
        return client;
    }

    /// <summary>Connects and logs in with Events: on (plain secret).</summary>
    public static async Task<RawAmiClient> LoginAsync(int port, string events = "on")
    {
        var client = await ConnectAsync(port);
        var answer = await client.ActionAsync("Login", ("Username", "switchboard"), ("Secret", "s3cret"), ("Events", events));
        answer["Message"].Should().Be("Authentication accepted");
        return client;
    }

    public IReadOnlyList<AmiMessage> Received
    {
        get
        {
            lock (_received)
            {
                return [.. _received];
            }
        }
    }

    public IReadOnlyList<AmiMessage> Events => [.. Received.Where(m => m.EventName is not null)];

    /// <summary>Sends a packet as written (ActionID included if given).</summary>
    public async Task SendAsync(params (string Key, string Value)[] fields)
    {
        var buffer = new ArrayBufferWriter<byte>();
        new AmiMessage(fields.Select(f => new KeyValuePair<string, string>(f.Key, f.Value))).WriteTo(buffer);
        await _stream.WriteAsync(buffer.WrittenMemory);
    }

    /// <summary>Sends an action with a fresh ActionID and returns its response packet.</summary>
    public async Task<AmiMessage> ActionAsync(string action, params (string Key, string Value)[] fields)
    {
        var id = "t" + Interlocked.Increment(ref _nextId);
        await SendAsync([("Action", action), ("ActionID", id), .. fields]);
        return await WaitForAsync(m => m.Response is not null && m.ActionId == id);
    }

    /// <summary>An MD5 login: Challenge, then Key = md5hex(challenge + secret).</summary>
    public async Task<AmiMessage> Md5LoginAsync(string secret, string events = "on")
    {
        var challenge = await ActionAsync("Challenge", ("AuthType", "MD5"));
        var key = Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(challenge["Challenge"] + secret)));
        return await ActionAsync("Login", ("AuthType", "MD5"), ("Username", "switchboard"), ("Key", key), ("Events", events));
    }

    /// <summary>The first packet received (from the start) that matches, waiting up to <paramref name="seconds"/>.</summary>
    public async Task<AmiMessage> WaitForAsync(Func<AmiMessage, bool> match, double seconds = 15, int skip = 0)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var seen = Received.Where(match).Skip(skip).FirstOrDefault();
            if (seen is not null)
            {
                return seen;
            }

            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || Closed.Task.IsCompleted)
            {
                throw new TimeoutException($"No matching packet; got {Received.Count}: {string.Join(", ", Received.TakeLast(5).Select(m => m.EventName ?? m.Response))}");
            }

            await _arrived.WaitAsync(left < TimeSpan.FromMilliseconds(200) ? left : TimeSpan.FromMilliseconds(200));
        }
    }

    /// <summary>Waits until every channel that appeared has hung up and nothing new arrived for a moment.</summary>
    public async Task WaitForCallsToEndAsync(double seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (DateTime.UtcNow < deadline)
        {
            var events = Events;
            var created = events.Where(e => e.EventName == "Newchannel").Select(e => e["Channel"]).ToHashSet();
            var gone = events.Where(e => e.EventName == "Hangup").Select(e => e["Channel"]).ToHashSet();
            if (created.Count > 0 && created.SetEquals(gone))
            {
                var count = Received.Count;
                await Task.Delay(300);
                if (Received.Count == count)
                {
                    return;
                }

                continue;
            }

            await _arrived.WaitAsync(TimeSpan.FromMilliseconds(200));
        }

        throw new TimeoutException($"The calls did not end (closed: {Closed.Task.IsCompleted}, {Failure?.Message}): " + string.Join(", ", Events.TakeLast(8).Select(e => e.EventName + " " + e["Channel"])));
    }

    private async Task ReadLoopAsync()
    {
        try
        {
            while (true)
            {
                var message = await _reader.ReadMessageAsync(_cts.Token);
                if (message is null)
                {
                    break;
                }

                lock (_received)
                {
                    _received.Add(message);
                }

                _arrived.Release();
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
        {
            Failure = ex;
        }
        finally
        {
            Closed.TrySetResult();
            _arrived.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync();
        _tcp.Dispose();
        await _loop;
        _cts.Dispose();
        _arrived.Dispose();
    }
}
