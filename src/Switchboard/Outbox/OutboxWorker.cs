using Microsoft.Extensions.Options;
using Switchboard.Hosting;

namespace Switchboard.Outbox;

/// <summary>
/// Sends what the outbox holds: claims due commands under a lease, hands each portal's commands to
/// their handler (one Bitrix24 batch request per portal and pass, where the handler batches), then
/// completes, reschedules with back-off, or dead-letters each. Portals are served in parallel; one
/// portal's outage only delays that portal's commands.
/// </summary>
/// <remarks>
/// At-least-once with idempotent effects: a command is marked done only after its effect is confirmed,
/// so a crash in between re-sends it when the lease runs out, and the handler recognises the repeat
/// (see <see cref="IOutboxHandler"/>). A lease that runs out is not a failed attempt.
/// </remarks>
public sealed partial class OutboxWorker(
    IOutboxStore store,
    IEnumerable<IOutboxHandler> handlers,
    IOptions<OutboxOptions> options,
    StoresReady ready,
    [FromKeyedServices(WorkSignal.OutboxEnqueued)] WorkSignal enqueued,
    SwitchboardMetrics metrics,
    TimeProvider time,
    StoreClock clock,
    ILogger<OutboxWorker> logger,
    OutboxLane? lane = null) : BackgroundService
{
    private readonly OutboxLane _lane = lane ?? OutboxLane.Bitrix24;

    private readonly Dictionary<string, IOutboxHandler> _byKind = handlers
        .SelectMany(h => h.Kinds.Select(k => (Kind: k, Handler: h)))
        .Where(x => (lane ?? OutboxLane.Bitrix24).Claims(x.Kind))
        .ToDictionary(x => x.Kind, x => x.Handler, StringComparer.Ordinal);

    private DateTimeOffset _lastPrune = DateTimeOffset.MinValue;

    /// <summary>How long a portal's commands wait when its tokens do not decrypt (a key ring put back is read again within a minute).</summary>
    internal static readonly TimeSpan UnreadableTokensWait = TimeSpan.FromMinutes(1);

    private readonly string _workerId = OutboxHeartbeat.WorkerIdOf(options.Value);

    /// <summary>The kinds this process executes.</summary>
    public IReadOnlyCollection<string> Kinds => _byKind.Keys;

    /// <summary>Runs passes until nothing is due. For tests and tools; the hosted loop does this itself.</summary>
    public async Task<int> DrainAsync(CancellationToken cancellationToken)
    {
        var total = 0;
        int handled;
        while ((handled = await PassAsync(cancellationToken).ConfigureAwait(false)) > 0)
        {
            total += handled;
        }

        return total;
    }

    /// <inheritdoc/>
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Enabled)
        {
            LogDisabled(logger);
            return Task.CompletedTask;
        }

        // An unavailable store only delays the claims; what is claimed comes back when its lease ends.
        return WorkerLoop.RunAsync(
            ready,
            async stopping =>
            {
                if (await PassAsync(stopping).ConfigureAwait(false) == 0)
                {
                    await PruneAsync(stopping).ConfigureAwait(false);
                    await (_lane.Signal ?? enqueued).WaitAsync(options.Value.PollInterval, stopping).ConfigureAwait(false);
                }
            },
            ex => LogStoreFailed(logger, ex.GetType().Name, ex.Message),
            time,
            stoppingToken);
    }

    /// <summary>At most once an hour, when idle: deletes done commands older than <see cref="OutboxOptions.KeepDone"/>.</summary>
    private async Task PruneAsync(CancellationToken cancellationToken)
    {
        var now = clock.Now;
        if (now - _lastPrune < TimeSpan.FromHours(1))
        {
            return;
        }

        _lastPrune = now;
        // At most 10,000 rows per hour's turn, in short transactions, so a first prune of a large
        // backlog never keeps sends waiting; the rest goes in the following hours.
        for (var i = 0; i < 10; i++)
        {
            if (await store.PruneDoneAsync(now - options.Value.KeepDone, 1000, cancellationToken).ConfigureAwait(false) < 1000)
            {
                break;
            }
        }
    }

    /// <summary>One claim and its execution; returns how many commands were claimed.</summary>
    public async Task<int> PassAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        if (_byKind.Count == 0 || !_lane.Active())
        {
            return 0;
        }

        // The database's clock (StoreClock): leases are compared across instances on other machines.
        var now = await clock.NowAsync(cancellationToken).ConfigureAwait(false);
        var claimed = await store.ClaimAsync(_workerId, Math.Max(1, o.BatchSize), o.Lease, now, cancellationToken, _byKind.Keys).ConfigureAwait(false);
        if (claimed.Count == 0)
        {
            return 0;
        }

        // A command whose claims keep running out without an outcome takes its worker down each time
        // (a crash, an out-of-memory, a hang): stop handing it out, so it cannot do so forever.
        var poison = claimed.Where(e => e.Claims - e.Attempts > Math.Max(1, o.MaxAttempts)).ToList();
        foreach (var entry in poison)
        {
            using var recording = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await RecordAsync(entry, new CommandOutcome.Fail(
                $"Claimed {entry.Claims} times without an outcome: the worker stopped (crash or hang) each time it executed this command."), recording.Token).ConfigureAwait(false);
        }

        var groups = claimed.Except(poison).GroupBy(e => (e.MemberId, Handler: _byKind[e.Kind]));
        await Task.WhenAll(groups.Select(g => RunAsync(g.Key.MemberId, g.Key.Handler, [.. g], cancellationToken))).ConfigureAwait(false);
        return claimed.Count;
    }

    private async Task RunAsync(string memberId, IOutboxHandler handler, IReadOnlyList<OutboxEntry> entries, CancellationToken cancellationToken)
    {
        // The handler must be done well before the claim runs out, or another instance would claim the
        // same commands while this one is still sending them.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(options.Value.Lease * 0.8);
        IReadOnlyDictionary<long, CommandOutcome> outcomes;
        try
        {
            outcomes = await handler.ExecuteAsync(memberId, entries, deadline.Token).ConfigureAwait(false);
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping: give the claims back at once, neither an attempt nor a claim counted (another
            // instance may take them now; this one on its next start). What the handler did already is
            // re-sent then, which every handler makes harmless.
            using var release = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                foreach (var entry in entries)
                {
                    await store.DeferAsync(entry.Id, _workerId, "Switchboard stopped while sending it.", clock.Now, release.Token).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                LogStoreFailed(logger, ex.GetType().Name, ex.Message); // the leases run out instead
            }

            return;
        }
        catch (Storage.PortalTokensUnreadableException)
        {
            // A key ring that does not fit (StorePortalCredentials logged it once): nothing was sent,
            // so the commands wait, no attempt counted, until the tokens decrypt again.
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try
            {
                foreach (var entry in entries)
                {
                    await store.DeferAsync(entry.Id, _workerId, "The portal's stored tokens cannot be decrypted with this instance's key ring (Switchboard:Store:KeyRingDirectory).", clock.Now + UnreadableTokensWait, wait.Token).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                LogStoreFailed(logger, ex.GetType().Name, ex.Message);
            }

            return;
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            var late = new CommandOutcome.Retry($"Not finished within {options.Value.Lease * 0.8} (80 % of Switchboard:Outbox:Lease).");
            outcomes = entries.ToDictionary(e => e.Id, _ => (CommandOutcome)late);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogHandlerFailed(logger, handler.GetType().Name, memberId, ex.GetType().Name, ex.Message);
            var failure = new CommandOutcome.Retry($"{ex.GetType().Name}: {ex.Message}");
            outcomes = entries.ToDictionary(e => e.Id, _ => (CommandOutcome)failure);
        }

        // Recording an outcome is not cut short by the stop (the remote effect has happened), but it is
        // bounded: with the store gone, the claim simply runs out instead of holding the shutdown.
        using var recording = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            foreach (var entry in entries)
            {
                var outcome = outcomes.TryGetValue(entry.Id, out var o) ? o : new CommandOutcome.Retry("The handler reported no outcome.");
                await RecordAsync(entry, outcome, recording.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogStoreFailed(logger, ex.GetType().Name, ex.Message);
        }
    }

    private async Task RecordAsync(OutboxEntry entry, CommandOutcome outcome, CancellationToken token)
    {
        var o = options.Value;
        var now = clock.Now;
        switch (outcome)
        {
            case CommandOutcome.Done done:
                if (await store.CompleteAsync(entry.Id, _workerId, now, token).ConfigureAwait(false))
                {
                    metrics.OutboxCommand(entry.Kind, "done");
                    LogDone(logger, entry.Kind, entry.Key, entry.MemberId, done.Note ?? "");
                }

                break;
            case CommandOutcome.Retry retry:
                var delay = retry.After ?? Backoff(entry.Attempts, o);
                var result = await store.FailAsync(entry.Id, _workerId, retry.Error, now + delay, Math.Max(1, o.MaxAttempts), token).ConfigureAwait(false);
                if (result == FailOutcome.Dead)
                {
                    metrics.OutboxCommand(entry.Kind, "dead");
                    LogDead(logger, entry.Kind, entry.Key, entry.MemberId, entry.Attempts + 1, retry.Error);
                }
                else if (result == FailOutcome.WillRetry)
                {
                    metrics.OutboxCommand(entry.Kind, "retry");
                    LogWillRetry(logger, entry.Kind, entry.Key, entry.MemberId, entry.Attempts + 1, delay, retry.Error);
                }

                break;
            case CommandOutcome.Defer defer:
                // Never sooner than the next poll: a deferral must not turn into a busy loop.
                var later = defer.After > o.PollInterval ? defer.After : o.PollInterval;
                if (await store.DeferAsync(entry.Id, _workerId, defer.Reason, now + later, token).ConfigureAwait(false))
                {
                    metrics.OutboxCommand(entry.Kind, "deferred");
                    LogDeferred(logger, entry.Kind, entry.Key, entry.MemberId, later, defer.Reason);
                }

                break;
            case CommandOutcome.Fail fail:
                // maxAttempts = attempts + 1: this failure is the last.
                await store.FailAsync(entry.Id, _workerId, fail.Error, now, entry.Attempts + 1, token).ConfigureAwait(false);
                metrics.OutboxCommand(entry.Kind, "dead");
                LogDead(logger, entry.Kind, entry.Key, entry.MemberId, entry.Attempts + 1, fail.Error);
                break;
        }
    }

    /// <summary>base × 2^attempts, capped, with ±20 % jitter so a portal's commands do not come back in lock-step.</summary>
    internal static TimeSpan Backoff(int attempts, OutboxOptions o)
    {
        var exponent = Math.Min(attempts, 20);
        var ticks = Math.Min(o.RetryBaseDelay.Ticks * (1L << exponent), o.RetryMaxDelay.Ticks);
#pragma warning disable CA5394 // Jitter, not security.
        var jitter = 0.8 + (Random.Shared.NextDouble() * 0.4);
#pragma warning restore CA5394
        return TimeSpan.FromTicks((long)(ticks * jitter));
    }

    [LoggerMessage(EventId = 4000, Level = LogLevel.Information, Message = "Outbox worker off (Switchboard:Outbox:Enabled=false): this instance sends nothing to Bitrix24")]
    private static partial void LogDisabled(ILogger logger);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Debug, Message = "Outbox {Kind} {Key} for {MemberId} done {Note}")]
    private static partial void LogDone(ILogger logger, string kind, string key, string memberId, string note);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "Outbox {Kind} {Key} for {MemberId} failed (attempt {Attempt}), retry in {Delay}: {Error}")]
    private static partial void LogWillRetry(ILogger logger, string kind, string key, string memberId, int attempt, TimeSpan delay, string error);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Error, Message = "Outbox {Kind} {Key} for {MemberId} is dead after {Attempts} attempts: {Error}. `switchboard outbox retry` sends it again")]
    private static partial void LogDead(ILogger logger, string kind, string key, string memberId, int attempts, string error);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Error, Message = "Outbox handler {Handler} failed for {MemberId}: {ErrorType} {Error}")]
    private static partial void LogHandlerFailed(ILogger logger, string handler, string memberId, string errorType, string error);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Warning, Message = "Outbox {Kind} {Key} for {MemberId} not sent, looked at again in {Delay}: {Reason}")]
    private static partial void LogDeferred(ILogger logger, string kind, string key, string memberId, TimeSpan delay, string reason);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Warning, Message = "Outbox store not available: {ErrorType} {Error}")]
    private static partial void LogStoreFailed(ILogger logger, string errorType, string error);
}

/// <summary>
/// Which commands a worker claims. Bitrix24's REST commands wait for the portal's rate limit and its
/// answers; a click-to-call must ring the phone at once. So originates go through a worker of their
/// own, whose pass never waits for a slow portal's batch.
/// </summary>
/// <param name="Name">For logs.</param>
/// <param name="Claims">True for the kinds this lane takes.</param>
/// <param name="Active">False while the lane has nothing it could do (no PBX connection held by this instance): it claims nothing then, leaving the commands to the instance that can.</param>
/// <param name="Signal">The signal it waits on; the worker's injected one when null.</param>
public sealed record OutboxLane(string Name, Func<string, bool> Claims, Func<bool> Active, WorkSignal? Signal = null)
{
    /// <summary>Every kind but the PBX's.</summary>
    public static OutboxLane Bitrix24 { get; } = new("bitrix24", kind => !OutboxKinds.IsPbx(kind), () => true);
}
