using System.Data.Common;

namespace Switchboard.Outbox;

/// <summary>
/// Durable work for Bitrix24 and the PBX (RELIABILITY.md promises 2 and 7): commands are enqueued once
/// per idempotency key, claimed by workers under a lease that expires (so a killed worker's items come
/// back), completed or failed with back-off, and dead-lettered after a maximum number of attempts.
/// </summary>
public interface IOutboxStore : IAsyncDisposable
{
    /// <summary>Creates the <c>outbox</c> table if it is missing; safe to call from several instances at once.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Enqueues in its own transaction; returns how many items were new (known keys are ignored).</summary>
    Task<int> EnqueueAsync(IReadOnlyList<OutboxItem> items, CancellationToken cancellationToken);

    /// <summary>
    /// Enqueues inside the caller's transaction (the ledger's): the items exist exactly when that
    /// transaction commits. The connection must be on this store's database. Returns how many were new.
    /// </summary>
    Task<int> EnqueueAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<OutboxItem> items, CancellationToken cancellationToken);

    /// <summary>
    /// Claims up to <paramref name="max"/> due items for <paramref name="workerId"/> until
    /// <paramref name="now"/> + <paramref name="leaseDuration"/>: pending items whose next attempt is due,
    /// and claimed items whose lease has expired. Oldest due first. With <paramref name="kinds"/>, only
    /// items of those kinds (an empty collection claims nothing).
    /// </summary>
    Task<IReadOnlyList<OutboxEntry>> ClaimAsync(string workerId, int max, TimeSpan leaseDuration, DateTimeOffset now, CancellationToken cancellationToken, IReadOnlyCollection<string>? kinds = null);

    /// <summary>Marks the item done if <paramref name="workerId"/> still holds it; false (and nothing changed) otherwise.</summary>
    Task<bool> CompleteAsync(long id, string workerId, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// Records a failed attempt if <paramref name="workerId"/> still holds the item: attempts + 1, then
    /// pending again at <paramref name="nextAttemptAt"/>, or dead once attempts reach <paramref name="maxAttempts"/>.
    /// <paramref name="errorMessage"/> is stored as given: pass sanitized text, never a token.
    /// </summary>
    Task<FailOutcome> FailAsync(long id, string workerId, string errorMessage, DateTimeOffset nextAttemptAt, int maxAttempts, CancellationToken cancellationToken);

    /// <summary>
    /// Puts a claimed item back to pending at <paramref name="nextAttemptAt"/> without counting an attempt
    /// or the claim (it was not tried: settings missing, or the worker is stopping), if
    /// <paramref name="workerId"/> still holds it. <paramref name="reason"/> is
    /// stored as the last error. False (and nothing changed) when the worker no longer holds it.
    /// </summary>
    Task<bool> DeferAsync(long id, string workerId, string reason, DateTimeOffset nextAttemptAt, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes up to <paramref name="max"/> done items completed before <paramref name="olderThan"/>;
    /// returns how many. Safe: the ledger remembers every key it emitted, so a deleted key is never
    /// enqueued again.
    /// </summary>
    Task<int> PruneDoneAsync(DateTimeOffset olderThan, int max, CancellationToken cancellationToken);

    /// <summary>Items by id, optionally only those in <paramref name="status"/>.</summary>
    Task<IReadOnlyList<OutboxEntry>> ListAsync(OutboxStatus? status, int limit, CancellationToken cancellationToken);

    /// <summary>Revives a dead item: pending, due at <paramref name="now"/>, attempts reset. False if it is not dead.</summary>
    Task<bool> RetryAsync(long id, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Revives every dead item; returns how many.</summary>
    Task<int> RetryAllDeadAsync(DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// Reads the store's own clock, where instances on several machines share the store (PostgreSQL),
    /// with this process's clock just before and after the read (a connection already open, so only the
    /// query's round trip is in between); null where every process using the store runs on this
    /// machine's clock (SQLite: a local file). Leases and due times are compared across instances, so
    /// they must all be on one clock (<see cref="StoreClock"/>).
    /// </summary>
    Task<ClockReading?> ReadClockAsync(TimeProvider time, CancellationToken cancellationToken);
}
