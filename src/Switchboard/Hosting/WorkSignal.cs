namespace Switchboard.Hosting;

/// <summary>
/// Wakes a worker when there is new work in this process (an event committed, a command enqueued), so
/// it does not wait for its next poll. Pulses while nobody waits collapse into one; workers still poll,
/// because other instances on a shared PostgreSQL database add work this process never hears of.
/// </summary>
public sealed class WorkSignal : IDisposable
{
    /// <summary>Key of the signal pulsed after journal commits.</summary>
    public const string JournalCommitted = "journal-committed";

    /// <summary>Key of the signal pulsed after outbox commands are enqueued.</summary>
    public const string OutboxEnqueued = "outbox-enqueued";

    /// <summary>Key of the signal of the PBX lane of the outbox (originates), pulsed with <see cref="OutboxEnqueued"/>.</summary>
    public const string PbxEnqueued = "pbx-enqueued";

    private readonly SemaphoreSlim _semaphore = new(0, 1);
    private readonly WorkSignal? _follower;

    /// <summary>A signal with one waiter.</summary>
    public WorkSignal()
    {
    }

    private WorkSignal(WorkSignal follower) => _follower = follower;

    /// <summary>A signal whose pulse also pulses <paramref name="follower"/>, which has a waiter of its own.</summary>
    public static WorkSignal Leading(WorkSignal follower) => new(follower);

    /// <summary>Wakes the waiter (or the next one to wait).</summary>
    /// <remarks>
    /// Called by the journal writer after every commit, hundreds of times a second under load, while
    /// the ledger is mostly busy folding rather than waiting: an already-signalled semaphore is left
    /// alone instead of being released into a <see cref="SemaphoreFullException"/> (a thrown and caught
    /// exception per commit was 4 % of the writer thread's CPU in a profile).
    /// </remarks>
    public void Pulse()
    {
        _follower?.Pulse();

        if (_semaphore.CurrentCount > 0)
        {
            return; // already signalled: one wake-up covers every pulse since
        }

        try
        {
            _semaphore.Release();
        }
        catch (SemaphoreFullException)
        {
            // Another thread signalled between the look and the release: the same as above.
        }
    }

    /// <summary>Waits for a pulse or for <paramref name="timeout"/>; true when pulsed.</summary>
    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) => _semaphore.WaitAsync(timeout, cancellationToken);

    /// <inheritdoc/>
    public void Dispose() => _semaphore.Dispose();
}

/// <summary>Completes once every store's schema is in place; workers wait for it before their first pass.</summary>
public sealed class StoresReady
{
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the stores are initialised.</summary>
    public Task WhenReady => _ready.Task;

    /// <summary>True once initialised.</summary>
    public bool IsReady => _ready.Task.IsCompleted;

    internal void Set() => _ready.TrySetResult();
}
