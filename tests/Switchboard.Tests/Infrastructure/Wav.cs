using System.Buffers.Binary;
using Switchboard.AsteriskEmulator;

namespace Switchboard.Tests.Infrastructure;

/// <summary>A real WAV file, in the format MixMonitor writes (the Asterisk emulator's <see cref="MixMonitorWav"/>).</summary>
public static class Wav
{
    public static byte[] Tone(TimeSpan length, int hertz = 440)
    {
        var samples = (int)(length.TotalSeconds * MixMonitorWav.SampleRate);
        var bytes = new byte[MixMonitorWav.HeaderBytes + (samples * 2)];
        MixMonitorWav.WriteHeader(bytes, samples);
        for (var i = 0; i < samples; i++)
        {
            BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(MixMonitorWav.HeaderBytes + (i * 2)), (short)(8000 * Math.Sin(2 * Math.PI * hertz * i / MixMonitorWav.SampleRate)));
        }

        return bytes;
    }
}
