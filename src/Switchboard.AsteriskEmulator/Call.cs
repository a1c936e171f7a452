namespace Switchboard.AsteriskEmulator;

/// <summary>A request from outside a running call: hang a channel up, or transfer.</summary>
internal abstract record CallRequest;

/// <summary>The Hangup action (or HangupAll) on one channel.</summary>
internal sealed record HangupRequestItem(Channel Channel, int Cause) : CallRequest;

/// <summary>A blind transfer of the party on the other side of <see cref="Transferer"/> to an extension.</summary>
internal sealed record BlindTransferItem(Channel Transferer, string Target) : CallRequest;

/// <summary>An attended transfer: the phone of <see cref="Transferer"/> consults <see cref="Target"/> and hands its party over.</summary>
internal sealed record AttendedTransferItem(Channel Transferer, string Target) : CallRequest;

/// <summary>
/// One call's run: its channels and a mailbox of requests from outside. The call's flow waits on
/// <see cref="WaitAsync"/>, which ends when its time is up or something arrives.
/// </summary>
internal sealed class Call(CancellationToken stopped)
{
    private readonly Queue<CallRequest> _requests = new();
    private TaskCompletionSource _signal = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public List<Channel> Channels { get; } = [];

    /// <summary>The call's emulated clock: advanced to each step's due time (discrete-event style), or to the wall clock when something from outside arrives.</summary>
    public DateTimeOffset Clock { get; set; }

    /// <summary>Waits until emulated <paramref name="due"/> or a request; true when the time came.</summary>
    public async Task<bool> WaitUntilAsync(DateTimeOffset due, Pbx pbx)
    {
        var timedOut = await WaitAsync(pbx.Real((due - pbx.RealNow).TotalSeconds), pbx.Time);
        var now = timedOut ? due : pbx.RealNow;
        if (now > Clock)
        {
            Clock = now;
        }

        return timedOut;
    }

    public CancellationToken Stopped { get; } = stopped;

    /// <summary>Completes when the call's flow has finished.</summary>
    public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set by a transfer: the call's flow hands its bridge over and ends without tearing it down.</summary>
    public bool HandedOver { get; set; }

    public void Post(CallRequest request)
    {
        lock (_requests)
        {
            _requests.Enqueue(request);
        }

        Signal();
    }

    public CallRequest? Take()
    {
        lock (_requests)
        {
            return _requests.Count > 0 ? _requests.Dequeue() : null;
        }
    }

    public void Signal()
    {
        TaskCompletionSource old;
        lock (_requests)
        {
            old = _signal;
            _signal = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        old.TrySetResult();
    }

    /// <summary>Waits <paramref name="real"/> or until a request arrives; true when the time ran out.</summary>
    public async Task<bool> WaitAsync(TimeSpan real, TimeProvider time)
    {
        Task signal;
        lock (_requests)
        {
            if (_requests.Count > 0)
            {
                return false;
            }

            signal = _signal.Task;
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Stopped);
        var delay = Task.Delay(real, time, cts.Token);
        var first = await Task.WhenAny(delay, signal);
        await cts.CancelAsync();
        Stopped.ThrowIfCancellationRequested();
        return first == delay;
    }
}
