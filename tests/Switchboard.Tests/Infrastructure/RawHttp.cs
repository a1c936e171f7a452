using System.Net.Sockets;
using System.Text;

namespace Switchboard.Tests.Infrastructure;

/// <summary>
/// An HTTP/1.1 exchange over a plain TCP socket, for requests no HttpClient sends: broken chunked
/// framing, a body that stops half-way, a body in one huge write. The answer is read until the
/// server closes the connection (the requests say <c>Connection: close</c>) or a deadline passes.
/// </summary>
public sealed class RawHttp : IAsyncDisposable
{
    private readonly TcpClient _client;
    private readonly NetworkStream _stream;

    private RawHttp(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
    }

    public static async Task<RawHttp> ConnectAsync(Uri server)
    {
        var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync(server.Host, server.Port);
        return new RawHttp(client);
    }

    /// <summary>The head of a POST to the events endpoint; add <c>Content-Length</c> or <c>Transfer-Encoding</c> yourself.</summary>
    public static string Head(string framing, string contentType = "application/x-www-form-urlencoded") =>
        $"POST /bitrix24/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {contentType}\r\nConnection: close\r\n{framing}\r\n\r\n";

    /// <summary>Writes bytes in one write; false if the server had already closed the connection.</summary>
    public async Task<bool> SendAsync(byte[] bytes)
    {
        try
        {
            await _stream.WriteAsync(bytes);
            await _stream.FlushAsync();
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    public Task<bool> SendAsync(string text) => SendAsync(Encoding.Latin1.GetBytes(text));

    /// <summary>Reads the answer until the server closes the connection, or fails after <paramref name="timeout"/>.</summary>
    public async Task<RawResponse> ReadResponseAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var received = new MemoryStream();
        var buffer = new byte[16 * 1024];
        var closed = false;
        try
        {
            while (true)
            {
                var n = await _stream.ReadAsync(buffer, cts.Token);
                if (n == 0)
                {
                    closed = true;
                    break;
                }

                received.Write(buffer, 0, n);
            }
        }
        catch (IOException)
        {
            // A reset after the answer (the server closed with unread bytes pending) ends it too.
            closed = true;
        }
        catch (OperationCanceledException)
        {
            // The deadline: what came so far is the answer; Closed says the connection stayed open.
        }

        return RawResponse.Parse(received.ToArray(), closed);
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _client.Dispose();
    }
}

/// <summary>One parsed answer: status, headers (names lower-case), body (chunked decoded) and whether the server closed the connection.</summary>
public sealed record RawResponse(int Status, IReadOnlyDictionary<string, string> Headers, string Body, string Raw, bool Closed)
{
    public static RawResponse Parse(byte[] bytes, bool closed)
    {
        var raw = Encoding.UTF8.GetString(bytes);
        var end = bytes.AsSpan().IndexOf("\r\n\r\n"u8);
        if (end < 0)
        {
            return new RawResponse(0, new Dictionary<string, string>(), string.Empty, raw, closed);
        }

        var lines = Encoding.ASCII.GetString(bytes, 0, end).Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var name = line[..colon].Trim().ToLowerInvariant();
            var value = line[(colon + 1)..].Trim();
            headers[name] = headers.TryGetValue(name, out var earlier) ? earlier + ", " + value : value;
        }

        var body = bytes.AsSpan(end + 4);
        var text = headers.TryGetValue("transfer-encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase)
            ? Dechunk(body)
            : Encoding.UTF8.GetString(body);
        return new RawResponse(status, headers, text, raw, closed);
    }

    private static string Dechunk(ReadOnlySpan<byte> chunked)
    {
        var output = new MemoryStream();
        while (!chunked.IsEmpty)
        {
            var lineEnd = chunked.IndexOf("\r\n"u8);
            if (lineEnd < 0)
            {
                break;
            }

            var size = Convert.ToInt32(Encoding.ASCII.GetString(chunked[..lineEnd]).Split(';')[0], 16);
            if (size == 0)
            {
                break;
            }

            var data = chunked[(lineEnd + 2)..];
            output.Write(data[..Math.Min(size, data.Length)]);
            chunked = data.Length > size + 2 ? data[(size + 2)..] : default;
        }

        return Encoding.UTF8.GetString(output.ToArray());
    }
}
