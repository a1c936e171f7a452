using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Switchboard.Hosting;

namespace Switchboard.Journal;

/// <summary>The store could not commit; the event was not kept and must not be acknowledged.</summary>
public sealed class JournalUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The one writer: requests hand their event over and wait; the writer commits whatever has queued up
/// in a single transaction (group commit) and then releases every waiter at once. One fsync serves
/// many events, which is how durable acknowledgement keeps up with the network.
/// </summary>
public sealed partial class JournalWriter(
    IJournalStore store,
    IOptions<JournalOptions> options,
    SwitchboardMetrics metrics,
    JournalFeed feed,
    [FromKeyedServices(WorkSignal.JournalCommitted)] WorkSignal committed,
    ILogger<JournalWriter> logger) : BackgroundService
{
    private readonly Channel<Pending> _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(options.Value.QueueCapacity)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait,
    });

    /// <summary>Queues an append and returns once it is committed (or failed).</summary>
    /// <exception cref="JournalUnavailableException">The store could not commit, or the writer is stopping.</exception>
    public async Task<AppendResult> AppendAsync(JournalAppend append, CancellationToken cancellationToken)
    {
        var pending = new Pending(append);
        try
        {
            await _queue.Writer.WriteAsync(pending, cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException ex)
        {
            throw new JournalUnavailableException("Switchboard is shutting down.", ex);
        }

        // Once queued, the event is committed whatever the caller does next: no cancellation here.
        return await pending.Completion.Task.ConfigureAwait(false);
    }

    /// <inheritdoc/>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var max = Math.Max(1, options.Value.MaxBatch);
        var batch = new List<Pending>(max);
        var appends = new List<JournalAppend>(max);
        var reader = _queue.Reader;

        // Not stoppingToken: on shutdown the channel is completed and what is queued is still written.
        while (await reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
        {
            while (batch.Count < max && reader.TryRead(out var next))
            {
                batch.Add(next);
                appends.Add(next.Append);
            }

            var started = Stopwatch.GetTimestamp();
            try
            {
                var results = await store.AppendAsync(appends, CancellationToken.None).ConfigureAwait(false);
                metrics.RecordCommit(batch.Count, Stopwatch.GetElapsedTime(started));
                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].Completion.TrySetResult(results[i]);
                }

                // Committed rows, in id order, for the ledger (it checks they follow its cursor).
                for (var i = 0; i < batch.Count; i++)
                {
                    if (results[i] is { Status: AppendStatus.Stored, Id: { } id } && appends[i] is { Event: { } ev } a)
                    {
                        feed.Publish(JournalFeed.AsStored(id, a.ReceivedAt, a.MemberId, ev), a.Body.Length);
                    }
                }

                // After the answers: nothing the ledger's wake-up does can turn a stored event into a 503.
                committed.Pulse();
            }
            catch (Exception ex)
            {
                LogCommitFailed(logger, batch.Count, store.Kind, ex.GetType().Name, ex.Message);
                metrics.CommitFailed();
                var failure = new JournalUnavailableException("The journal store could not commit.", ex);
                foreach (var p in batch)
                {
                    p.Completion.TrySetException(failure);
                }
            }

            batch.Clear();
            appends.Clear();
        }
    }

    /// <inheritdoc/>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // The web server has stopped taking requests by now (it stops first); finish what is queued.
        _queue.Writer.TryComplete();
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Error, Message = "Journal commit of {Count} events failed on {Store}: {ErrorType} {Error}")]
    private static partial void LogCommitFailed(ILogger logger, int count, string store, string errorType, string error);

    private sealed class Pending(JournalAppend append)
    {
        public JournalAppend Append { get; } = append;

        public TaskCompletionSource<AppendResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
