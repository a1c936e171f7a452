using System.IO.Pipelines;
using System.Text;
using Switchboard.Asterisk.Wire;

namespace Switchboard.Asterisk.Tests.Wire;

/// <summary>Packets that arrived together are read without waiting for more bytes from the peer.</summary>
public sealed class BufferedPacketsTests
{
    [Fact]
    public async Task Packets_that_arrived_in_one_write_are_all_read_while_the_peer_stays_silent()
    {
        var pipe = new Pipe();
        // The banner, a response and two events in one write, then nothing: the socket stays open.
        await pipe.Writer.WriteAsync(Encoding.ASCII.GetBytes(
            "Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: 1\r\n\r\nEvent: Newchannel\r\nUniqueid: 1.0\r\n\r\nEvent: Hangup\r\nUniqueid: 1.0\r\n\r\n"));
        var reader = new AmiFrameReader(pipe.Reader);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));

        (await reader.ReadBannerAsync(timeout.Token)).Should().Be("Asterisk Call Manager/11.0.0");
        (await reader.ReadMessageAsync(timeout.Token))!.Response.Should().Be("Success");
        (await reader.ReadMessageAsync(timeout.Token))!.EventName.Should().Be("Newchannel");
        (await reader.ReadMessageAsync(timeout.Token))!.EventName.Should().Be("Hangup");
    }
}
