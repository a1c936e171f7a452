using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Switchboard.Tests.Infrastructure;

/// <summary>
/// A stand-in for Asterisk that answers a connector's session actions the way Asterisk 22.10.1 does
/// (the login, Filter, Command, CoreShowChannels, Ping) and, on the first Originate, sends the events a
/// real Asterisk sent for that call: the bytes of a recorded transcript (tests/Fixtures/asterisk) from
/// after its Originate's response, as they are, except that the recording client's ActionID and
/// CALL_ID are replaced by the connector's (the transcripts' README allows it: they are the client's
/// own inputs, which Asterisk echoes).
/// </summary>
public sealed class TranscriptAsterisk : IAsyncDisposable
{
    private const string Secret = "s3cret";
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly string _transcript;
    private readonly string _recordedCallId;
    private readonly List<Task> _sessions = [];
    private readonly Task _accepting;

    private TranscriptAsterisk(string transcriptName, string recordedCallId)
    {
        _transcript = File.ReadAllText(Path.Combine(FixturesDirectory, transcriptName), Encoding.UTF8);
        _recordedCallId = recordedCallId;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <summary>tests/Fixtures/asterisk, copied next to the test assembly.</summary>
    public static string FixturesDirectory => Path.Combine(AppContext.BaseDirectory, "Fixtures", "asterisk");

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>The manager.conf user and secret it takes (the lab's).</summary>
    public static (string User, string Secret) Credentials => ("switchboard", Secret);

    /// <summary>The actions received, in order, as (name, fields).</summary>
    public List<(string Name, List<KeyValuePair<string, string>> Fields)> Actions { get; } = [];

    /// <summary>Completes when the transcript's events have all been written.</summary>
    public TaskCompletionSource Replayed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static TranscriptAsterisk Start(string transcriptName, string recordedCallId) => new(transcriptName, recordedCallId);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            lock (_sessions)
            {
                _sessions.Add(ServeAsync(client));
            }
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        var stream = client.GetStream();
        var reader = new StreamReader(stream, Encoding.UTF8);
        var writeLock = new SemaphoreSlim(1, 1);
        async Task WriteAsync(string text)
        {
            await writeLock.WaitAsync(_stop.Token);
            try
            {
                await stream.WriteAsync(Encoding.UTF8.GetBytes(text), _stop.Token);
            }
            finally
            {
                writeLock.Release();
            }
        }

        try
        {
            // As Asterisk 22.10.1 sends it: the banner line alone (main/manager.c).
            await WriteAsync("Asterisk Call Manager/11.0.0\r\n");
            string? challenge = null;
            while (!_stop.IsCancellationRequested)
            {
                var fields = new List<KeyValuePair<string, string>>();
                string? line;
                while ((line = await reader.ReadLineAsync(_stop.Token)) is { Length: > 0 })
                {
                    var colon = line.IndexOf(':', StringComparison.Ordinal);
                    fields.Add(colon < 0 ? new(line, "") : new(line[..colon].Trim(), line[(colon + 1)..].Trim()));
                }

                if (line is null)
                {
                    return;
                }

                if (fields.Count == 0)
                {
                    continue;
                }

                string? Get(string key) => fields.FirstOrDefault(f => string.Equals(f.Key, key, StringComparison.OrdinalIgnoreCase)).Value;
                var name = Get("Action") ?? "";
                var id = Get("ActionID");
                var actionId = id is null ? "" : $"ActionID: {id}\r\n";
                lock (Actions)
                {
                    Actions.Add((name, fields));
                }

                switch (name.ToLowerInvariant())
                {
                    case "challenge":
                        challenge = RandomNumberGenerator.GetInt32(100_000_000, 999_999_999).ToString(System.Globalization.CultureInfo.InvariantCulture);
                        await WriteAsync($"Response: Success\r\n{actionId}Challenge: {challenge}\r\n\r\n");
                        break;
                    case "login":
                        // AMI's challenge login is MD5 by definition (manager.c, action_login): not a choice made here.
#pragma warning disable CA5351
                        var ok = Get("Key") is { } key
                            ? challenge is not null && key == Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(challenge + Secret)))
                            : Get("Secret") == Secret;
#pragma warning restore CA5351
                        if (!ok)
                        {
                            await WriteAsync($"Response: Error\r\n{actionId}Message: Authentication failed\r\n\r\n");
                            return;
                        }

                        await WriteAsync($"Response: Success\r\n{actionId}Message: Authentication accepted\r\n\r\n");
                        await WriteAsync("Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 12\r\nLastReload: 12\r\nStatus: Fully Booted\r\n\r\n");
                        break;
                    case "filter":
                        await WriteAsync($"Response: Success\r\n{actionId}Message: Filter Added Successfully\r\n\r\n");
                        break;
                    case "command":
                        await WriteAsync($"Response: Success\r\n{actionId}Message: Command output follows\r\nOutput: Asterisk 22.10.1 built by lab @ lab on a x86_64 running Linux\r\n\r\n");
                        break;
                    case "coreshowchannels":
                        await WriteAsync($"Response: Success\r\n{actionId}EventList: start\r\nMessage: Channels will follow\r\n\r\n");
                        await WriteAsync($"Event: CoreShowChannelsComplete\r\n{actionId}EventList: Complete\r\nListItems: 0\r\n\r\n");
                        break;
                    case "ping":
                        await WriteAsync($"Response: Success\r\n{actionId}Ping: Pong\r\nTimestamp: 1796643874.000000\r\n\r\n");
                        break;
                    case "logoff":
                        await WriteAsync($"Response: Goodbye\r\n{actionId}Message: Thanks for all the fish.\r\n\r\n");
                        return;
                    case "originate":
                        await WriteAsync($"Response: Success\r\n{actionId}Message: Originate successfully queued\r\n\r\n");
                        var callId = fields.Where(f => string.Equals(f.Key, "Variable", StringComparison.OrdinalIgnoreCase))
                            .Select(f => f.Value.Split('=', 2)).First(v => v[0] == "SB_CALL_ID")[1];
                        await WriteAsync(Events(id ?? "", callId));
                        Replayed.TrySetResult();
                        break;
                    default:
                        await WriteAsync($"Response: Error\r\n{actionId}Message: Invalid/unknown command: {name}. Use Action: ListCommands to show available commands.\r\n\r\n");
                        break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    /// <summary>The transcript's events after its Originate's response, with the client's ActionID and CALL_ID replaced.</summary>
    private string Events(string actionId, string callId)
    {
        var queued = _transcript.IndexOf("Message: Originate successfully queued\r\n\r\n", StringComparison.Ordinal);
        var start = queued + "Message: Originate successfully queued\r\n\r\n".Length;
        var end = _transcript.LastIndexOf("Response: Goodbye", StringComparison.Ordinal);
        return _transcript[start..end]
            .Replace("ActionID: 2\r\n", $"ActionID: {actionId}\r\n", StringComparison.Ordinal)
            .Replace(_recordedCallId, callId, StringComparison.Ordinal);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        Task[] sessions;
        lock (_sessions)
        {
            sessions = [.. _sessions];
        }

        await Task.WhenAll(sessions);
        _stop.Dispose();
    }
}
