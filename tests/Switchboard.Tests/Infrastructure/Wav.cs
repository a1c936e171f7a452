using System.Buffers.Binary;

namespace Switchboard.Tests.Infrastructure;

/// <summary>A real WAV file (RIFF, PCM 16-bit mono 8 kHz), as MixMonitor writes one.</summary>
public static class Wav
{
    public static byte[] Tone(TimeSpan length, int hertz = 440)
    {
        const int rate = 8000;
        var samples = (int)(length.TotalSeconds * rate);
        var bytes = new byte[44 + (samples * 2)];
        var s = bytes.AsSpan();
        "RIFF"u8.CopyTo(s);
        BinaryPrimitives.WriteInt32LittleEndian(s[4..], bytes.Length - 8);
        "WAVEfmt "u8.CopyTo(s[8..]);
        BinaryPrimitives.WriteInt32LittleEndian(s[16..], 16);
        BinaryPrimitives.WriteInt16LittleEndian(s[20..], 1); // PCM
        BinaryPrimitives.WriteInt16LittleEndian(s[22..], 1); // mono
        BinaryPrimitives.WriteInt32LittleEndian(s[24..], rate);
        BinaryPrimitives.WriteInt32LittleEndian(s[28..], rate * 2);
        BinaryPrimitives.WriteInt16LittleEndian(s[32..], 2);
        BinaryPrimitives.WriteInt16LittleEndian(s[34..], 16);
        "data"u8.CopyTo(s[36..]);
        BinaryPrimitives.WriteInt32LittleEndian(s[40..], samples * 2);
        for (var i = 0; i < samples; i++)
        {
            BinaryPrimitives.WriteInt16LittleEndian(s[(44 + (i * 2))..], (short)(8000 * Math.Sin(2 * Math.PI * hertz * i / rate)));
        }

        return bytes;
    }
}
