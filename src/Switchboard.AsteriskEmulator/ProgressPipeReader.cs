using System.IO.Pipelines;

namespace Switchboard.AsteriskEmulator;

/// <summary>
/// Works around AmiFrameReader (Switchboard.Asterisk, branch ami-wire) marking the whole buffer examined
/// even after it returned a packet: the next read would then wait for new bytes while whole packets sit
/// in the pipe. When the caller consumed something, this reports only that as examined, so the rest is
/// handed back at once; when it consumed nothing (an unfinished line), it waits for more as asked.
/// </summary>
internal sealed class ProgressPipeReader(PipeReader inner) : PipeReader
{
    private SequencePosition _start;

    public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        var result = await inner.ReadAsync(cancellationToken);
        _start = result.Buffer.Start;
        return result;
    }

    public override bool TryRead(out ReadResult result)
    {
        var ok = inner.TryRead(out result);
        if (ok)
        {
            _start = result.Buffer.Start;
        }

        return ok;
    }

    public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        if (consumed.Equals(_start))
        {
            inner.AdvanceTo(consumed, examined);
        }
        else
        {
            inner.AdvanceTo(consumed, consumed);
        }
    }

    public override void CancelPendingRead() => inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);
}
