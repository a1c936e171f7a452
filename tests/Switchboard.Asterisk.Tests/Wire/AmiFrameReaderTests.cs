using System.IO.Pipelines;
using System.Text;
using Switchboard.Asterisk.Tests.Support;
using Switchboard.Asterisk.Wire;

namespace Switchboard.Asterisk.Tests.Wire;

public sealed class AmiFrameReaderTests
{
    private static AmiFrameReader ReaderOf(string text, AmiLimits? limits = null) =>
        new(PipeReader.Create(new MemoryStream(Encoding.UTF8.GetBytes(text))), limits);

    private static async Task<List<AmiMessage>> ReadAllAsync(AmiFrameReader reader)
    {
        var messages = new List<AmiMessage>();
        while (await reader.ReadMessageAsync(CancellationToken.None) is { } message)
        {
            messages.Add(message);
        }

        return messages;
    }

    public static TheoryData<string> TranscriptNames => [.. Transcript.Names];

    [Theory]
    [MemberData(nameof(TranscriptNames))]
    public async Task Every_transcript_parses_into_packets_with_an_Event_or_a_Response(string name)
    {
        var messages = await Transcript.Load(name).ReadMessagesAsync();

        messages.Should().NotBeEmpty();
        messages.Should().OnlyContain(m => m.EventName != null || m.Response != null);
    }

    [Theory]
    [MemberData(nameof(TranscriptNames))]
    public async Task A_transcript_fed_in_small_uneven_chunks_reads_the_same_as_whole(string name)
    {
        var transcript = Transcript.Load(name);
        var whole = await transcript.ReadMessagesAsync();

        var chunked = new List<AmiMessage>();
        foreach (var (_, bytes) in transcript.Parts)
        {
            var pipe = new Pipe();
            var random = new Random(7);
            var writing = Task.Run(async () =>
            {
                for (var at = 0; at < bytes.Length;)
                {
                    var size = Math.Min(random.Next(1, 14), bytes.Length - at);
                    await pipe.Writer.WriteAsync(bytes.AsMemory(at, size));
                    at += size;
                }

                await pipe.Writer.CompleteAsync();
            });
            var reader = new AmiFrameReader(pipe.Reader);
            if (bytes.AsSpan().StartsWith("Asterisk Call Manager/"u8))
            {
                (await reader.ReadBannerAsync(CancellationToken.None)).Should().Be("Asterisk Call Manager/11.0.0");
            }

            chunked.AddRange(await ReadAllAsync(reader));
            await writing;
        }

        chunked.Select(m => m.ToList()).Should().BeEquivalentTo(whole.Select(m => m.ToList()), o => o.WithStrictOrdering());
    }

    [Fact]
    public async Task LF_line_ends_read_the_same_as_CRLF()
    {
        var crlf = "Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\n";
        var lf = crlf.Replace("\r\n", "\n", StringComparison.Ordinal);

        var fromCrlf = ReaderOf(crlf);
        var fromLf = ReaderOf(lf);

        (await fromLf.ReadBannerAsync(CancellationToken.None)).Should().Be(await fromCrlf.ReadBannerAsync(CancellationToken.None));
        var a = (await ReadAllAsync(fromCrlf)).Single();
        var b = (await ReadAllAsync(fromLf)).Single();
        b.ToList().Should().Equal(a.ToList());
        b["message"].Should().Be("Authentication accepted");
    }

    [Fact]
    public async Task Packets_that_arrive_together_are_each_returned_without_waiting_for_more_bytes()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync("Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: 1\r\n\r\nEvent: A\r\n\r\nEvent: B\r\n\r\n"u8.ToArray());
        var reader = new AmiFrameReader(pipe.Reader);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));

        (await reader.ReadBannerAsync(deadline.Token)).Should().Be("Asterisk Call Manager/11.0.0");
        (await reader.ReadMessageAsync(deadline.Token))!.ActionId.Should().Be("1");
        (await reader.ReadMessageAsync(deadline.Token))!.EventName.Should().Be("A");
        (await reader.ReadMessageAsync(deadline.Token))!.EventName.Should().Be("B");
        await pipe.Writer.CompleteAsync();
    }

    [Fact]
    public async Task Blank_lines_between_packets_are_skipped()
    {
        var reader = ReaderOf("\r\n\r\nEvent: A\r\n\r\n\r\n\n\r\nEvent: B\r\n\r\n\r\n");

        var messages = await ReadAllAsync(reader);

        messages.Select(m => m.EventName).Should().Equal("A", "B");
    }

    [Fact]
    public async Task Repeated_keys_are_all_kept_in_order_and_keys_compare_case_insensitively()
    {
        var reader = ReaderOf("Event: Status\r\nActionID: 7\r\nChanVariable: A=1\r\nchanvariable: B=2\r\nActionID: 7\r\n\r\n");

        var message = (await ReadAllAsync(reader)).Single();

        message.Count.Should().Be(5);
        message.GetAll("CHANVARIABLE").Should().Equal("A=1", "B=2");
        message.ActionId.Should().Be("7");
        message.GetAll("Nothing").Should().BeEmpty();
        message["Nothing"].Should().BeNull();
    }

    [Fact]
    public async Task Values_keep_their_colons_and_trailing_text_and_an_empty_value_is_empty()
    {
        var reader = ReaderOf("Event: X\r\nAppData: a:b: c \r\nAccountCode: \r\nBare:value\r\n\r\n");

        var message = (await ReadAllAsync(reader)).Single();

        message["AppData"].Should().Be("a:b: c ");
        message["AccountCode"].Should().BeEmpty();
        message["Bare"].Should().Be("value");
    }

    [Fact]
    public async Task A_lone_CR_inside_a_value_is_kept_not_a_failure()
    {
        var reader = ReaderOf("Event: Newexten\r\nAppData: a\rb\r\n\r\n");

        (await reader.ReadMessageAsync(CancellationToken.None))!["AppData"].Should().Be("a\rb");
    }

    [Fact]
    public async Task Command_output_lines_are_Output_fields_in_order()
    {
        var reader = ReaderOf("Response: Success\r\nActionID: 8\r\nMessage: Command output follows\r\nOutput: line one\r\nOutput: \r\nOutput: line: three\r\n\r\n");

        var message = (await ReadAllAsync(reader)).Single();

        message.GetAll("Output").Should().Equal("line one", string.Empty, "line: three");
    }

    [Fact]
    public async Task A_pre_14_Command_answer_in_raw_text_reads_as_Output_lines()
    {
        // Asterisk 13 (AMI 2.x): the CLI text as is, a blank line and a Key: Value look-alike included.
        var reader = ReaderOf(
            "Response: Follows\r\nPrivilege: Command\r\nActionID: 8\r\n"
            + "Channel              Location             State   Application(Data)\n"
            + "\n"
            + "Note: 0 active channels\n"
            + "--END COMMAND--\r\n\r\n"
            + "Response: Follows\r\nPrivilege: Command\r\nActionID: 9\r\nno newline at the end--END COMMAND--\r\n\r\n"
            + "Event: After\r\n\r\n");

        var messages = await ReadAllAsync(reader);

        messages.Should().HaveCount(3);
        messages[0].ActionId.Should().Be("8");
        messages[0]["Privilege"].Should().Be("Command");
        messages[0].GetAll("Output").Should().Equal(
            "Channel              Location             State   Application(Data)", string.Empty, "Note: 0 active channels");
        messages[1].GetAll("Output").Should().Equal("no newline at the end");
        messages[2].EventName.Should().Be("After");
    }

    [Fact]
    public async Task A_raw_Command_answer_that_never_ends_is_bounded_by_the_limits()
    {
        var text = new StringBuilder("Response: Follows\r\nPrivilege: Command\r\n");
        for (var i = 0; i < 1000; i++)
        {
            text.Append("line ").Append(i).Append("\r\n\r\n");
        }

        var reader = ReaderOf(text.ToString());

        await FluentActions.Awaiting(() => reader.ReadMessageAsync(CancellationToken.None).AsTask())
            .Should().ThrowAsync<AmiProtocolException>().WithMessage("*512 fields*");
    }

    [Fact]
    public async Task The_banner_is_the_first_line_and_the_stream_may_end_before_it()
    {
        (await ReaderOf("Asterisk Call Manager/11.0.0\r\n").ReadBannerAsync(CancellationToken.None)).Should().Be("Asterisk Call Manager/11.0.0");
        (await ReaderOf(string.Empty).ReadBannerAsync(CancellationToken.None)).Should().BeNull();
    }

    [Fact]
    public async Task A_clean_end_of_stream_is_null_and_an_end_inside_a_packet_is_a_protocol_error()
    {
        var clean = ReaderOf("Event: A\r\n\r\n");
        (await clean.ReadMessageAsync(CancellationToken.None)).Should().NotBeNull();
        (await clean.ReadMessageAsync(CancellationToken.None)).Should().BeNull();

        var afterField = ReaderOf("Event: A\r\n\r\nEvent: B\r\nChannel: x\r\n");
        (await afterField.ReadMessageAsync(CancellationToken.None)).Should().NotBeNull();
        await FluentActions.Awaiting(() => afterField.ReadMessageAsync(CancellationToken.None).AsTask())
            .Should().ThrowAsync<AmiProtocolException>();

        var midLine = ReaderOf("Event: A\r\nChan");
        await FluentActions.Awaiting(() => midLine.ReadMessageAsync(CancellationToken.None).AsTask())
            .Should().ThrowAsync<AmiProtocolException>();
    }

    [Fact]
    public async Task A_line_that_is_not_Key_Value_is_a_protocol_error()
    {
        var reader = ReaderOf("Response: Success\r\nthis is raw text\r\n\r\n");

        await FluentActions.Awaiting(() => reader.ReadMessageAsync(CancellationToken.None).AsTask())
            .Should().ThrowAsync<AmiProtocolException>();
    }

    [Fact]
    public async Task A_line_of_100_KB_is_a_protocol_error()
    {
        var reader = ReaderOf("Event: Newexten\r\nAppData: " + new string('x', 100 * 1024) + "\r\n\r\n");

        await FluentActions.Awaiting(() => reader.ReadMessageAsync(CancellationToken.None).AsTask())
            .Should().ThrowAsync<AmiProtocolException>().WithMessage("*line*8192*");
    }

    [Fact]
    public async Task A_line_at_the_limit_is_read()
    {
        var limits = new AmiLimits(MaxLineBytes: 64);
        var value = new string('x', 64 - "AppData: ".Length);
        var reader = ReaderOf("Event: Newexten\r\nAppData: " + value + "\r\n\r\n", limits);

        (await reader.ReadMessageAsync(CancellationToken.None))!["AppData"].Should().Be(value);
    }

    [Fact]
    public async Task A_packet_of_10000_fields_is_a_protocol_error()
    {
        var text = new StringBuilder("Event: Status\r\n");
        for (var i = 0; i < 10_000; i++)
        {
            text.Append("ChanVariable: V").Append(i).Append("=1\r\n");
        }

        var reader = ReaderOf(text.Append("\r\n").ToString());

        await FluentActions.Awaiting(() => reader.ReadMessageAsync(CancellationToken.None).AsTask())
            .Should().ThrowAsync<AmiProtocolException>().WithMessage("*512 fields*");
    }

    [Fact]
    public async Task A_packet_over_MaxPacketBytes_is_a_protocol_error_even_when_each_line_fits()
    {
        var limits = new AmiLimits(MaxLineBytes: 1000, MaxFields: 10_000, MaxPacketBytes: 4096);
        var text = new StringBuilder("Event: Status\r\n");
        for (var i = 0; i < 100; i++)
        {
            text.Append("ChanVariable: ").Append('v', 100).Append("\r\n");
        }

        var reader = ReaderOf(text.Append("\r\n").ToString(), limits);

        await FluentActions.Awaiting(() => reader.ReadMessageAsync(CancellationToken.None).AsTask())
            .Should().ThrowAsync<AmiProtocolException>().WithMessage("*4096 bytes*");
    }

    [Fact]
    public async Task An_endless_line_is_a_protocol_error_while_the_peer_is_still_sending()
    {
        var pipe = new Pipe();
        using var stop = new CancellationTokenSource();
        var chunk = Encoding.ASCII.GetBytes(new string('y', 4096));
        var writing = Task.Run(async () =>
        {
            await pipe.Writer.WriteAsync("Event: Endless\r\nData: "u8.ToArray());
            while (!stop.IsCancellationRequested)
            {
                var flush = await pipe.Writer.WriteAsync(chunk);
                if (flush.IsCompleted)
                {
                    break;
                }
            }
        });
        var reader = new AmiFrameReader(pipe.Reader);

        await FluentActions.Awaiting(() => reader.ReadMessageAsync(CancellationToken.None).AsTask())
            .Should().ThrowAsync<AmiProtocolException>();

        await pipe.Reader.CompleteAsync();
        await stop.CancelAsync();
        await writing;
    }
}
