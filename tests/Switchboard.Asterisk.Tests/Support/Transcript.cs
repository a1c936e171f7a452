using System.IO.Pipelines;
using System.Text;
using Switchboard.Asterisk.Events;
using Switchboard.Asterisk.Wire;

namespace Switchboard.Asterisk.Tests.Support;

/// <summary>
/// A transcript from tests/Fixtures/asterisk. Lines starting <c>#### </c> mark where the recording client
/// sent its next action (or opened a new session); they are not AMI, so the file is cut there into parts.
/// </summary>
internal sealed class Transcript
{
    private Transcript(string name, IReadOnlyList<(string Marker, byte[] Bytes)> parts)
    {
        Name = name;
        Parts = parts;
    }

    public string Name { get; }

    /// <summary>The AMI bytes between markers, with the marker before them ("" for the first part).</summary>
    public IReadOnlyList<(string Marker, byte[] Bytes)> Parts { get; }

    /// <summary>Every byte of AMI in the file, the markers left out.</summary>
    public byte[] Bytes => [.. Parts.SelectMany(p => p.Bytes)];

    public static IEnumerable<string> Names =>
        Directory.EnumerateFiles(FixturesDirectory, "*.ami").Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal)!;

    public static string FixturesDirectory => Path.Combine(AppContext.BaseDirectory, "Fixtures");

    public static Transcript Load(string name)
    {
        var bytes = File.ReadAllBytes(Path.Combine(FixturesDirectory, name + ".ami"));
        var parts = new List<(string, byte[])>();
        var marker = string.Empty;
        var current = new MemoryStream();
        var start = 0;
        while (start < bytes.Length)
        {
            var end = Array.IndexOf(bytes, (byte)'\n', start);
            end = end < 0 ? bytes.Length : end + 1;
            var line = bytes.AsSpan(start, end - start);
            if (line.StartsWith("#### "u8))
            {
                if (current.Length > 0 || marker.Length > 0)
                {
                    parts.Add((marker, current.ToArray()));
                }

                marker = Encoding.UTF8.GetString(line).TrimEnd('\r', '\n')[5..];
                current = new MemoryStream();
            }
            else
            {
                current.Write(line);
            }

            start = end;
        }

        parts.Add((marker, current.ToArray()));
        return new Transcript(name, parts);
    }

    /// <summary>Every packet of the transcript, read with <see cref="AmiFrameReader"/> (a part that starts with a banner has it read first).</summary>
    public async Task<IReadOnlyList<AmiMessage>> ReadMessagesAsync()
    {
        var messages = new List<AmiMessage>();
        foreach (var (_, bytes) in Parts)
        {
            var reader = new AmiFrameReader(PipeReader.Create(new MemoryStream(bytes)));
            if (bytes.AsSpan().StartsWith("Asterisk Call Manager/"u8))
            {
                (await reader.ReadBannerAsync(CancellationToken.None)).Should().StartWith("Asterisk Call Manager/");
            }

            while (await reader.ReadMessageAsync(CancellationToken.None) is { } message)
            {
                messages.Add(message);
            }
        }

        return messages;
    }

    public async Task<IReadOnlyList<AmiEvent>> ReadEventsAsync() =>
        [.. (await ReadMessagesAsync()).Where(m => m.EventName is not null).Select(AmiEvent.From)];
}
