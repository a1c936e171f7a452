using System.Net;
using System.Net.Http;
using System.Net.Sockets;

namespace Switchboard.Bitrix24.Rest;

/// <summary>
/// Where outbound requests may go (RELIABILITY.md promise 5: no request goes where an event says).
/// Runs inside <see cref="SocketsHttpHandler.ConnectCallback"/>: it resolves the host itself, refuses
/// the connection when ANY resolved address is loopback, private, link-local, CGNAT, "this network",
/// unique-local or a cloud metadata address, and then connects to the vetted address (not a second
/// lookup, so DNS rebinding cannot swap it). Ranges an operator allows are exempt.
/// </summary>
public sealed class OutboundGuard
{
    private static readonly IPNetwork[] Refused =
    [
        IPNetwork.Parse("0.0.0.0/8"),        // "this network"
        IPNetwork.Parse("10.0.0.0/8"),       // private
        IPNetwork.Parse("100.64.0.0/10"),    // CGNAT (also Alibaba's metadata 100.100.100.200)
        IPNetwork.Parse("127.0.0.0/8"),      // loopback
        IPNetwork.Parse("169.254.0.0/16"),   // link-local (AWS/GCP/Azure metadata 169.254.169.254)
        IPNetwork.Parse("172.16.0.0/12"),    // private
        IPNetwork.Parse("192.0.0.0/24"),     // IETF protocol assignments (Oracle metadata 192.0.0.192)
        IPNetwork.Parse("192.168.0.0/16"),   // private
        IPNetwork.Parse("198.18.0.0/15"),    // benchmarking
        IPNetwork.Parse("224.0.0.0/4"),      // multicast
        IPNetwork.Parse("240.0.0.0/4"),      // reserved, broadcast
        IPNetwork.Parse("::/128"),           // unspecified
        IPNetwork.Parse("::1/128"),          // loopback
        IPNetwork.Parse("fc00::/7"),         // unique-local (AWS IPv6 metadata fd00:ec2::254)
        IPNetwork.Parse("fe80::/10"),        // link-local
        IPNetwork.Parse("ff00::/8"),         // multicast
    ];

    private readonly IPNetwork[] _allowed;
    private readonly Func<IPAddress[], int, CancellationToken, ValueTask<Stream>> _connect;

    /// <summary>A guard with the operator's allowed CIDR ranges (e.g. <c>10.20.0.0/16</c>).</summary>
    public OutboundGuard(IEnumerable<string> allowedNetworks)
        : this(allowedNetworks, ConnectSocketAsync)
    {
    }

    /// <summary>For tests: the connector that runs only after the guard has approved the addresses.</summary>
    internal OutboundGuard(IEnumerable<string> allowedNetworks, Func<IPAddress[], int, CancellationToken, ValueTask<Stream>> connect)
    {
        ArgumentNullException.ThrowIfNull(allowedNetworks);
        _allowed = [.. allowedNetworks.Select(IPNetwork.Parse)];
        _connect = connect;
    }

    /// <summary>True when a connection to this address is allowed.</summary>
    public bool IsAllowed(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (_allowed.Any(n => n.Contains(address)))
        {
            return true;
        }

        return !Refused.Any(n => n.Contains(address));
    }

    /// <summary>The <see cref="SocketsHttpHandler.ConnectCallback"/>.</summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        if (addresses.Length == 0)
        {
            throw new DestinationRefusedException(host, "the name resolves to no address");
        }

        foreach (var a in addresses)
        {
            if (!IsAllowed(a))
            {
                throw new DestinationRefusedException(host, $"it resolves to {a}, a loopback, private, link-local or metadata address");
            }
        }

        return await _connect(addresses, context.DnsEndPoint.Port, cancellationToken).ConfigureAwait(false);
    }

    private static async ValueTask<Stream> ConnectSocketAsync(IPAddress[] addresses, int port, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, port, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}

/// <summary>The outbound guard refused a destination before connecting.</summary>
public sealed class DestinationRefusedException : IOException
{
    /// <summary>A refusal of <paramref name="host"/> with the reason.</summary>
    public DestinationRefusedException(string host, string reason)
        : base($"Refused to connect to {host}: {reason}.")
    {
        Host = host;
    }

    /// <summary>Not used; required by the exception pattern.</summary>
    public DestinationRefusedException() { Host = ""; }

    /// <summary>Not used; required by the exception pattern.</summary>
    public DestinationRefusedException(string message, Exception inner) : base(message, inner) { Host = ""; }

    /// <summary>The refused host.</summary>
    public string Host { get; }
}

/// <summary>Builds the one <see cref="HttpClient"/> the REST client and OAuth refresh use: no automatic
/// redirects (a 302 from a renamed portal is handled by the client, as the SDK does with
/// <c>max_redirects =&gt; 0</c>), the <see cref="OutboundGuard"/> at connect time, pooled connections
/// recycled so DNS changes are seen.</summary>
public static class Bitrix24HttpClientFactory
{
    /// <summary>A handler with the guard; wrap it in an <see cref="HttpClient"/> (or use <see cref="CreateClient(Bitrix24RestOptions)"/>).</summary>
    public static SocketsHttpHandler CreateHandler(Bitrix24RestOptions options) =>
        CreateHandler(new OutboundGuard((options ?? throw new ArgumentNullException(nameof(options))).AllowedNetworks));

    internal static SocketsHttpHandler CreateHandler(OutboundGuard guard) => new()
    {
        AllowAutoRedirect = false,
        ConnectCallback = guard.ConnectAsync,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        ConnectTimeout = TimeSpan.FromSeconds(15),
        AutomaticDecompression = DecompressionMethods.All,
        UseCookies = false,
        UseProxy = false,
    };

    /// <summary>An <see cref="HttpClient"/> over <see cref="CreateHandler(Bitrix24RestOptions)"/>. The client's own
    /// timeout is off: <see cref="Bitrix24RestOptions.AttemptTimeout"/> applies per attempt.</summary>
    public static HttpClient CreateClient(Bitrix24RestOptions options) =>
        new(CreateHandler(options), disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };

    internal static HttpClient CreateClient(OutboundGuard guard) =>
        new(CreateHandler(guard), disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
}
