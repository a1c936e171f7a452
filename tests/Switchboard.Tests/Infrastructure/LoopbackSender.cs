using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;

namespace Switchboard.Tests.Infrastructure;

/// <summary>
/// An HTTP client whose connections leave from a chosen loopback address (127.0.0.2, …): on Linux the
/// whole 127.0.0.0/8 reaches the loopback interface, so a test can be several senders the server
/// tells apart by address, as it tells Bitrix24's queue from somebody else.
/// </summary>
public static class LoopbackSender
{
    public static HttpClient Create(IPAddress source, Uri baseAddress) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (context, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                socket.Bind(new IPEndPoint(source, 0));
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
        MaxConnectionsPerServer = 256,
    })
    {
        BaseAddress = baseAddress,
    };

    /// <summary>POSTs a form body to the events endpoint.</summary>
    public static Task<HttpResponseMessage> PostEventAsync(this HttpClient client, string body, CancellationToken cancellationToken = default)
    {
        var content = new StringContent(body);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/x-www-form-urlencoded");
        return client.PostAsync("/bitrix24/events", content, cancellationToken);
    }
}
