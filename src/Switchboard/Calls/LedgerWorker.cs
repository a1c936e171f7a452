using Microsoft.Extensions.Options;
using Switchboard.Hosting;

namespace Switchboard.Calls;

/// <summary>How the ledger follows the journal (section <c>Switchboard:Ledger</c>).</summary>
public sealed class LedgerOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Switchboard:Ledger";

    /// <summary>Journal rows folded per transaction.</summary>
    public int BatchSize { get; set; } = 500;

    /// <summary>How often an idle ledger looks for events journalled by other instances.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// Folds the journal into the call ledger: after each journal commit in this process (and every
/// <see cref="LedgerOptions.PollInterval"/>, for other instances' events) it reads the rows past its
/// cursor, updates the calls, enqueues the commands they cause, and moves the cursor, in one
/// transaction per pass (<see cref="SqlCallStore.ProcessJournalAsync"/>). Nothing on the request path
/// waits for it.
/// </summary>
public sealed partial class LedgerWorker(
    SqlCallStore calls,
    IOptions<LedgerOptions> options,
    StoresReady ready,
    [FromKeyedServices(WorkSignal.JournalCommitted)] WorkSignal journalCommitted,
    [FromKeyedServices(WorkSignal.OutboxEnqueued)] WorkSignal outboxEnqueued,
    SwitchboardMetrics metrics,
    TimeProvider time,
    ILogger<LedgerWorker> logger) : BackgroundService
{
    /// <summary>Folds until the ledger has caught up with the journal; returns the rows read.</summary>
    public async Task<int> CatchUpAsync(CancellationToken cancellationToken)
    {
        var total = 0;
        LedgerPass pass;
        do
        {
            pass = await calls.ProcessJournalAsync(Math.Max(1, options.Value.BatchSize), time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
            total += pass.Events;
            metrics.LedgerFolded(pass.Events);
            foreach (var id in pass.Unreadable)
            {
                LogUnreadable(logger, id);
            }

            if (pass.Commands > 0)
            {
                outboxEnqueued.Pulse();
            }
        }
        while (pass.More);

        return total;
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
