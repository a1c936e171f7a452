using Microsoft.Extensions.Options;
using Switchboard.Hosting;

namespace Switchboard.Calls;

/// <summary>How the ledger follows the journal (section <c>Switchboard:Ledger</c>).</summary>
public sealed class LedgerOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Switchboard:Ledger";

    /// <summary>Journal rows folded per transaction.</summary>
    public int BatchSize { get; set; } = 1000;

    /// <summary>How often an idle ledger looks for events journalled by other instances.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The shortest time between the starts of two passes. Acknowledging Bitrix24 comes first (it never
    /// re-sends): under a flood of events the ledger folds at most <see cref="BatchSize"/> rows per
    /// interval and catches up afterwards, instead of taking the CPU the receiving path needs. A first
    /// event after a quiet spell is folded at once.
    /// </summary>
    public TimeSpan PassInterval { get; set; } = TimeSpan.FromMilliseconds(50);
}

/// <summary>
/// Folds the journal into the call ledger: after each journal commit in this process (and every
/// <see cref="LedgerOptions.PollInterval"/>, for other instances' events) it reads the rows past its
/// cursor, parses them, and folds them into the calls with the commands they cause and the cursor
/// move in one transaction (<see cref="SqlCallStore.FoldAsync"/>). Nothing on the request path waits
/// for it, and it never holds the journal's write lock.
/// </summary>
public sealed partial class LedgerWorker(
    SqlCallStore calls,
    Journal.IJournalStore journal,
    Journal.JournalFeed feed,
    IOptions<LedgerOptions> options,
    StoresReady ready,
    [FromKeyedServices(WorkSignal.JournalCommitted)] WorkSignal journalCommitted,
    [FromKeyedServices(WorkSignal.OutboxEnqueued)] WorkSignal outboxEnqueued,
    SwitchboardMetrics metrics,
    TimeProvider time,
    Outbox.StoreClock clock,
    ILogger<LedgerWorker> logger) : BackgroundService
{
    private DateTimeOffset _lastPass = DateTimeOffset.MinValue;

    /// <summary>Folds until the ledger has caught up with the journal; returns the rows read.</summary>
    public async Task<int> CatchUpAsync(CancellationToken cancellationToken)
    {
        var total = 0;
        var batch = Math.Max(1, options.Value.BatchSize);
        while (true)
        {
            await PaceAsync(cancellationToken).ConfigureAwait(false);
            var cursor = await calls.GetCursorAsync(cancellationToken).ConfigureAwait(false);

            // The commands' due times on the database's clock, as the outbox compares them (StoreClock).
            // Before its first reading, this machine's: a due time off by the skew only moves a first send
            // (the leases, which must never be off, wait for the reading in the outbox worker).
            DateTimeOffset now;
            try
            {
                now = await clock.NowAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                now = clock.Now;
            }

            // The rows this process just committed, already parsed, when they follow the cursor with no
            // gap; otherwise (another instance's rows, a restart, a feed that overflowed) the journal.
            var events = new List<Journal.JournalEvent>();
            long through;
            int read;
            var fromFeed = feed.TryTake(cursor, batch, events);
            if (fromFeed)
            {
                through = events[^1].Id;
                read = events.Count;
            }
            else
            {
                var rows = await journal.ReadAfterAsync(cursor, batch, cancellationToken).ConfigureAwait(false);
                if (rows.Count == 0)
                {
                    return total;
                }

                // Parsing is the costly part of a pass and needs no lock: done before the transaction.
                foreach (var row in rows)
                {
                    if (CallJson.ReadEvent(row.ContentType, row.Body) is { } ev)
                    {
                        events.Add(new Journal.JournalEvent(row.Id, row.ReceivedAt, row.MemberId, ev));
                    }
                    else
                    {
                        LogUnreadable(logger, row.Id);
                    }
                }

                through = rows[^1].Id;
                read = rows.Count;
            }

            var pass = await calls.FoldAsync(cursor, events, through, now, cancellationToken).ConfigureAwait(false);
            if (pass.Conflict)
            {
                continue; // another instance folded these rows first; read on from where it stopped
            }

            total += read;
            metrics.LedgerFolded(read, fromFeed ? "feed" : "journal");
            if (pass.Commands > 0)
            {
                outboxEnqueued.Pulse();
            }

            // A short take from the feed that stopped at a gap (another instance's row, an id the
            // database skipped) goes on at once with the journal; an emptied feed means caught up.
            if (read < batch && (!fromFeed || feed.Count == 0))
            {
                return total;
            }
        }
    }

    private async Task PaceAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var due = _lastPass + options.Value.PassInterval;
        if (due > now)
        {
            await Task.Delay(due - now, time, cancellationToken).ConfigureAwait(false);
        }

        _lastPass = time.GetUtcNow();
    }

    /// <inheritdoc/>
    // A failed pass leaves the cursor where it was: the same rows are folded on the next one.
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => WorkerLoop.RunAsync(
        ready,
        async stopping =>
        {
            await CatchUpAsync(stopping).ConfigureAwait(false);
            await journalCommitted.WaitAsync(options.Value.PollInterval, stopping).ConfigureAwait(false);
        },
        ex => LogPassFailed(logger, ex.GetType().Name, ex.Message),
        time,
        stoppingToken);

    [LoggerMessage(EventId = 3000, Level = LogLevel.Warning, Message = "Ledger pass failed, will retry: {ErrorType} {Error}")]
    private static partial void LogPassFailed(ILogger logger, string errorType, string error);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Error, Message = "Journal row {JournalId} could not be read back as an event and was skipped by the ledger")]
    private static partial void LogUnreadable(ILogger logger, long journalId);
}
