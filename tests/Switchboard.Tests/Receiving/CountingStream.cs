namespace Switchboard.Tests.Receiving;

/// <summary>A read-only stream of a prefix followed by one byte repeated up to a total length, counting what was read from it.</summary>
internal sealed class CountingStream(byte[] prefix, byte fill, long total) : Stream
{
    private long _position;

    public long BytesRead => Interlocked.Read(ref _position);

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => total;

    public override long Position { get => _position; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count)
    {
        var n = 0;
        while (n < count && _position < total)
        {
            buffer[offset + n] = _position < prefix.Length ? prefix[_position] : fill;
            n++;
            Interlocked.Increment(ref _position);
        }

        return n;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
