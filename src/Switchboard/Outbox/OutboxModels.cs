namespace Switchboard.Outbox;

/// <summary>
/// A command to enqueue: <see cref="Key"/> is the idempotency key (unique in the table, so enqueueing
/// the same command again is a no-op), <see cref="Payload"/> is JSON text the sender understands by
/// <see cref="Kind"/>. The store never interprets either.
/// </summary>
/// <param name="Kind">What to do, e.g. <c>finish</c> or <c>show</c>.</param>
/// <param name="Key">The idempotency key, e.g. <c>finish:&lt;CALL_ID&gt;</c>.</param>
/// <param name="MemberId">The portal the command is for.</param>
/// <param name="Payload">JSON text.</param>
/// <param name="CreatedAt">When it was enqueued.</param>
/// <param name="NotBefore">The earliest time it may be claimed; <see cref="CreatedAt"/> when null.</param>
public sealed record OutboxItem(string Kind, string Key, string MemberId, string Payload, DateTimeOffset CreatedAt, DateTimeOffset? NotBefore = null);

/// <summary>Where an outbox row is in its life.</summary>
public enum OutboxStatus
{
    /// <summary>Waiting for its next attempt (<see cref="OutboxEntry.NextAttemptAt"/>).</summary>
    Pending,

    /// <summary>Held by a worker until <see cref="OutboxEntry.LeaseUntil"/>; claimable again after that.</summary>
    Claimed,

    /// <summary>Sent and confirmed. The row stays, so its key keeps refusing a re-enqueue.</summary>
    Done,

    /// <summary>Gave up after the maximum number of attempts; <c>switchboard outbox retry</c> revives it.</summary>
    Dead,
}

/// <summary>One outbox row as stored.</summary>
/// <param name="Id">The row id.</param>
/// <param name="Kind">What to do.</param>
/// <param name="Key">The idempotency key.</param>
/// <param name="MemberId">The portal.</param>
/// <param name="Payload">JSON text.</param>
/// <param name="Status">Where it is.</param>
/// <param name="Attempts">Failed attempts so far.</param>
/// <param name="CreatedAt">When it was enqueued.</param>
/// <param name="NextAttemptAt">When it is next due (while pending).</param>
/// <param name="ClaimedBy">The worker holding it (while claimed), or the one that sent it (when done).</param>
/// <param name="LeaseUntil">When that worker's claim expires (while claimed).</param>
/// <param name="LastError">The last failure, sanitized by the caller.</param>
/// <param name="CompletedAt">When it was completed (when done).</param>
public sealed record OutboxEntry(
    long Id,
    string Kind,
    string Key,
    string MemberId,
    string Payload,
    OutboxStatus Status,
    int Attempts,
    DateTimeOffset CreatedAt,
    DateTimeOffset NextAttemptAt,
    string? ClaimedBy,
    DateTimeOffset? LeaseUntil,
    string? LastError,
    DateTimeOffset? CompletedAt)
{
    /// <summary>
    /// How many times it was claimed and not given back, this claim included (a deferral gives its claim
    /// back; a retry from the dead-letter list starts again at 0). More claims than attempts means
    /// workers took it and never reported back: they crashed or hung while executing it.
    /// </summary>
    public int Claims { get; init; }
}

/// <summary>What <see cref="IOutboxStore.FailAsync"/> did.</summary>
public enum FailOutcome
{
    /// <summary>The item was not claimed by this worker (its lease expired and another took it, or it was completed): nothing changed.</summary>
    NotClaimed,

    /// <summary>Back to pending, due at the given time.</summary>
    WillRetry,

    /// <summary>The maximum number of attempts is reached: dead, listed, waiting for a manual retry.</summary>
    Dead,
}

/// <summary>One reading of the store's clock (<see cref="IOutboxStore.ReadClockAsync"/>).</summary>
/// <param name="Before">This process's clock just before the query.</param>
/// <param name="Database">The store's clock, read during the query.</param>
/// <param name="After">This process's clock just after it.</param>
public sealed record ClockReading(DateTimeOffset Before, DateTimeOffset Database, DateTimeOffset After);

/// <summary>A process that claims outbox commands: its worker id (what claims name), machine, process id and start time.</summary>
public sealed record OutboxInstance(string WorkerId, string Machine, int ProcessId, DateTimeOffset StartedAt);
