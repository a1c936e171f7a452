using System.Net;
using System.Net.Sockets;

namespace Switchboard.Tests.Infrastructure;

/// <summary>
/// A loopback TCP forwarder between Switchboard and a real server, to take that server away and
/// bring it back: <see cref="Stop"/> closes the listener and cuts every open connection (what a
/// stopped or unreachable PostgreSQL looks like), <see cref="Start"/> listens again on the same port.
/// </summary>
public sealed class TcpForwarder : IDisposable
{
    private readonly IPEndPoint _target;
    private readonly List<TcpClient> _open = [];
    private readonly Lock _lock = new();
    private TcpListener? _listener;
    private CancellationTokenSource? _running;

    public TcpForwarder(IPEndPoint target)
    {
        _target = target;
        Start();
    }

    public int Port { get; private set; }

    public void Start()
    {
        lock (_lock)
        {
            _listener = new TcpListener(IPAddress.Loopback, Port);
            _listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _running = new CancellationTokenSource();
            _ = AcceptAsync(_listener, _running.Token);
        }
    }

    public void Stop()
    {
        lock (_lock)
        {
            _running?.Cancel();
            _listener?.Stop();
            foreach (var c in _open)
            {
                try
                {
                    if (c.Client is { Connected: true } socket)
                    {
                        socket.LingerState = new LingerOption(true, 0); // RST, like a server that is gone
                    }
                }
                catch (Exception e) when (e is ObjectDisposedException or SocketException)
                {
                    // Its pump closed it a moment ago (the peer hung up): a full suite run once saw
                    // this race throw out of Stop into the test.
                }

                c.Dispose();
            }

            _open.Clear();
        }
    }

    private async Task AcceptAsync(TcpListener listener, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            TcpClient inbound;
            try
            {
                inbound = await listener.AcceptTcpClientAsync(ct);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            var outbound = new TcpClient();
            try
            {
                await outbound.ConnectAsync(_target, ct);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException)
            {
                inbound.Dispose();
                outbound.Dispose();
                continue;
            }

            lock (_lock)
            {
                _open.Add(inbound);
                _open.Add(outbound);
            }

            _ = PumpAsync(inbound, outbound, ct);
            _ = PumpAsync(outbound, inbound, ct);
        }
    }

    private static async Task PumpAsync(TcpClient from, TcpClient to, CancellationToken ct)
    {
        try
        {
            await from.GetStream().CopyToAsync(to.GetStream(), ct);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or SocketException or InvalidOperationException)
        {
        }
        finally
        {
            from.Dispose();
            to.Dispose();
        }
    }

    public void Dispose()
    {
        Stop();
        _running?.Dispose();
    }
}
