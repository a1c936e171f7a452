using System.Buffers.Binary;

namespace Switchboard.AsteriskEmulator;

/// <summary>
/// MixMonitor's file: a RIFF/WAVE 8 kHz 16-bit mono file, written while the call runs and closed a
/// moment after the hangup (app_mixmonitor.c closes it in its own thread once the channel is gone).
/// Like the real one it starts as a bare 44-byte header; audio (a tone, as the lab's phones play) is
/// appended as emulated time passes, so its length matches the talk time.
/// </summary>
internal sealed class WavRecorder : IDisposable
{
    private const int SampleRate = MixMonitorWav.SampleRate;
    private readonly FileStream _file;
    private readonly Func<DateTimeOffset> _now;
    private readonly DateTimeOffset _start;
    private readonly object _gate = new();
    private long _samples;
    private bool _closed;
    private bool _finished;
    private ITimer? _ticker;

    public WavRecorder(string path, DateTimeOffset start, Func<DateTimeOffset> now, TimeProvider time, TimeSpan tick)
    {
        Path = path;
        _now = now;
        _start = start;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        _file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read);
        WriteHeader();
        _ticker = time.CreateTimer(_ => Catch(), null, tick, tick);
    }

    public string Path { get; }

    /// <summary>
    /// Fills the file with audio up to the current emulated time (or exactly up to <paramref name="until"/>,
    /// the call's own clock at hangup, trimming what a late-running wall clock wrote ahead) and keeps the
    /// header's sizes right.
    /// </summary>
    public void Catch(DateTimeOffset? until = null)
    {
        lock (_gate)
        {
            if (_closed || _finished)
            {
                return;
            }

            var due = (long)Math.Max(0, ((until ?? _now()) - _start).TotalSeconds * SampleRate);
            if (until is not null && due < _samples)
            {
                _samples = due;
                _file.SetLength(44 + (due * 2));
                WriteHeader();
                _file.Flush();
                return;
            }

            if (due <= _samples)
            {
                return;
            }

            var count = (int)Math.Min(due - _samples, SampleRate * 60);
            var buffer = new byte[count * 2];
            for (var i = 0; i < count; i++)
            {
                // A quiet 440 Hz tone, so a player hears something and a checker finds non-silence.
                var value = (short)(3000 * Math.Sin(2 * Math.PI * 440 * (_samples + i) / SampleRate));
                BinaryPrimitives.WriteInt16LittleEndian(buffer.AsSpan(i * 2), value);
            }

            _file.Seek(0, SeekOrigin.End);
            _file.Write(buffer);
            _samples += count;
            WriteHeader();
            _file.Flush();
        }
    }

    /// <summary>Closes the file after <paramref name="delay"/>.</summary>
    public void CloseSoon(TimeSpan delay, TimeProvider time, DateTimeOffset end)
    {
        Catch(end);
        lock (_gate)
        {
            // The audio ends with the call; only the close is left for later.
            _ticker?.Dispose();
            _ticker = null;
            _finished = true;
        }

        ITimer? closer = null;
        closer = time.CreateTimer(_ =>
        {
            Dispose();
            closer?.Dispose();
        }, null, delay, Timeout.InfiniteTimeSpan);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            _ticker?.Dispose();
            _ticker = null;
            _file.Dispose();
        }
    }

    private void WriteHeader()
    {
        Span<byte> h = stackalloc byte[MixMonitorWav.HeaderBytes];
        MixMonitorWav.WriteHeader(h, _samples);
        _file.Seek(0, SeekOrigin.Begin);
        _file.Write(h);
    }
}

/// <summary>The format of the recordings the emulator's MixMonitor writes: RIFF/WAVE, PCM 16-bit mono, 8 kHz.</summary>
public static class MixMonitorWav
{
    /// <summary>Samples per second.</summary>
    public const int SampleRate = 8000;

    /// <summary>The header's length; the samples follow it.</summary>
    public const int HeaderBytes = 44;

    /// <summary>Writes the 44-byte header of a file holding <paramref name="samples"/> 16-bit samples.</summary>
    public static void WriteHeader(Span<byte> header, long samples)
    {
        var data = (uint)(samples * 2);
        "RIFF"u8.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], 36 + data);
        "WAVE"u8.CopyTo(header[8..]);
        "fmt "u8.CopyTo(header[12..]);
        BinaryPrimitives.WriteUInt32LittleEndian(header[16..], 16);
        BinaryPrimitives.WriteUInt16LittleEndian(header[20..], 1); // PCM
        BinaryPrimitives.WriteUInt16LittleEndian(header[22..], 1); // mono
        BinaryPrimitives.WriteUInt32LittleEndian(header[24..], SampleRate);
        BinaryPrimitives.WriteUInt32LittleEndian(header[28..], SampleRate * 2);
        BinaryPrimitives.WriteUInt16LittleEndian(header[32..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(header[34..], 16);
        "data"u8.CopyTo(header[36..]);
        BinaryPrimitives.WriteUInt32LittleEndian(header[40..], data);
    }
}
