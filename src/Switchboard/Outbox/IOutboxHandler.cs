namespace Switchboard.Outbox;

/// <summary>
/// Executes outbox commands of some kinds. The <c>OutboxWorker</c> claims due commands, groups
/// them by portal and by handler, and hands each group to <see cref="ExecuteAsync"/>; a handler may
/// send a group as one Bitrix24 <c>batch</c> request. The worker then completes, retries or
/// dead-letters each command by its outcome.
/// </summary>
/// <remarks>
/// A command may be executed again after a crash between the remote call and its local "done" (the
/// lease expires and another claim takes it). Handlers make that harmless: re-sending is either
/// idempotent at the portal or recognised (a finish for an already finished call is "done").
/// </remarks>
public interface IOutboxHandler
{
    /// <summary>The <see cref="OutboxItem.Kind"/> values this handler executes.</summary>
    IReadOnlyCollection<string> Kinds { get; }

    /// <summary>Executes commands of one portal, all of this handler's kinds.</summary>
    /// <param name="memberId">The portal.</param>
    /// <param name="entries">The claimed commands, oldest first.</param>
    /// <param name="cancellationToken">Stops the work when the server stops; unfinished commands come back when their lease ends.</param>
    /// <returns>One outcome per entry, by <see cref="OutboxEntry.Id"/>. An entry with no outcome is retried.</returns>
    Task<IReadOnlyDictionary<long, CommandOutcome>> ExecuteAsync(string memberId, IReadOnlyList<OutboxEntry> entries, CancellationToken cancellationToken);
}

/// <summary>What became of one command. Messages are stored and shown by <c>switchboard outbox list</c>: never put a token in one.</summary>
public abstract record CommandOutcome
{
    private CommandOutcome()
    {
    }

    /// <summary>Done (also: nothing left to do, e.g. the portal says the call is already finished).</summary>
    public sealed record Done(string? Note = null) : CommandOutcome;

    /// <summary>Failed this time; try again later (counts as an attempt; dead after the maximum).</summary>
    /// <param name="Error">Why, for the operator.</param>
    /// <param name="After">Not before this delay; the worker's back-off when null.</param>
    public sealed record Retry(string Error, TimeSpan? After = null) : CommandOutcome
    {
        /// <summary>A retry not before <paramref name="retryAt"/> (a reset time the portal gave), or after the back-off when it is unknown or past.</summary>
        public static Retry Until(string error, DateTimeOffset? retryAt, DateTimeOffset now) =>
            new(error, retryAt is { } at && at > now ? at - now : null);
    }

    /// <summary>
    /// Not tried: Switchboard cannot send it yet (its Bitrix24 settings are incomplete). Rescheduled
    /// without counting an attempt, so it waits for the operator instead of dying.
    /// </summary>
    /// <param name="Reason">What is missing, for <c>outbox list</c>.</param>
    /// <param name="After">When to look again.</param>
    public sealed record Defer(string Reason, TimeSpan After) : CommandOutcome;

    /// <summary>Can never succeed as it is (e.g. the portal was uninstalled): dead-lettered at once.</summary>
    public sealed record Fail(string Error) : CommandOutcome;
}
