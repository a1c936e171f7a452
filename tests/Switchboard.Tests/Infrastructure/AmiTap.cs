using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Switchboard.Tests.Infrastructure;

/// <summary>
/// A loopback TCP relay between Switchboard and an AMI server that counts the Originate actions it
/// carries and, when told, swallows everything the server sends after an Originate: the action reaches
/// Asterisk, its answer never reaches Switchboard (the moment "written, outcome unknown").
/// </summary>
public sealed class AmiTap : IDisposable
{
    private readonly IPEndPoint _target;
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private int _originates;

    public AmiTap(IPEndPoint target)
    {
        _target = target;
        _listener.Start();
        _ = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Originate actions that passed, over every connection.</summary>
    public int Originates => Volatile.Read(ref _originates);

    /// <summary>While true, a connection that carried an Originate forwards nothing more to Switchboard.</summary>
    public bool SwallowAnswersAfterOriginate { get; set; }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient inbound;
            try
            {
                inbound = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            var outbound = new TcpClient();
            try
            {
                await outbound.ConnectAsync(_target, _stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException)
            {
                inbound.Dispose();
                outbound.Dispose();
                continue;
            }

            var connection = new Connection();
            _ = ToServerAsync(inbound, outbound, connection);
            _ = ToClientAsync(outbound, inbound, connection);
        }
    }

    private async Task ToServerAsync(TcpClient from, TcpClient to, Connection connection)
    {
        var buffer = new byte[8192];
        var text = new StringBuilder();
        try
        {
            int n;
            while ((n = await from.GetStream().ReadAsync(buffer, _stop.Token)) > 0)
            {
                text.Append(Encoding.ASCII.GetString(buffer, 0, n));
                var lines = text.ToString().Split('\n');
                foreach (var line in lines[..^1])
                {
                    if (line.TrimEnd('\r').Equals("Action: Originate", StringComparison.OrdinalIgnoreCase))
                    {
                        Interlocked.Increment(ref _originates);
                        connection.SawOriginate = SwallowAnswersAfterOriginate;
                    }
                }

                text.Clear().Append(lines[^1]);
                await to.GetStream().WriteAsync(buffer.AsMemory(0, n), _stop.Token);
            }
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

    private async Task ToClientAsync(TcpClient from, TcpClient to, Connection connection)
    {
        var buffer = new byte[8192];
        try
        {
            int n;
            while ((n = await from.GetStream().ReadAsync(buffer, _stop.Token)) > 0)
            {
                if (!connection.SawOriginate)
                {
                    await to.GetStream().WriteAsync(buffer.AsMemory(0, n), _stop.Token);
                }
            }
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
        _stop.Cancel();
        _listener.Stop();
        _stop.Dispose();
    }

    private sealed class Connection
    {
        public volatile bool SawOriginate;
    }
}
