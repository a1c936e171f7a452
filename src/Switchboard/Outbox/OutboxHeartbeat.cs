using System.Diagnostics;
using Microsoft.Extensions.Options;
using Switchboard.Hosting;

namespace Switchboard.Outbox;

/// <summary>
/// Gives a dead process's claimed commands back without waiting out their lease
/// (<see cref="OutboxOptions.Lease"/>, ten minutes by default). Each process records itself in
/// <c>outbox_instances</c> under the worker id its claims name, with its machine, process id and start
/// time. A SQLite server is a single process on this machine: at start it releases at once the claims of
/// every recorded process of this machine that is no longer running (the id is gone, or belongs to a
/// process started at another time: a container's server is process 1 each time). On PostgreSQL the
/// instances may be on several machines, so each renews a heartbeat on the database's clock every
/// <see cref="OutboxOptions.HeartbeatInterval"/>, and any of them releases the claims of an instance whose
/// heartbeat is older than <see cref="OutboxOptions.HeartbeatLapse"/>.
/// </summary>
/// <remarks>
/// An instance that was only paused past the lapse (a stopped VM, a long partition) finds its commands
/// claimed by another; the other sends them again, which every outbox handler makes harmless, and the
/// paused one's late outcome changes nothing (only the holder may finish a command).
/// </remarks>
public sealed partial class OutboxHeartbeat(
    SqlOutboxStore store,
    IOptions<OutboxOptions> options,
    StoresReady ready,
    StoreClock clock,
    [FromKeyedServices(WorkSignal.OutboxEnqueued)] WorkSignal enqueued,
    TimeProvider time,
    ILogger<OutboxHeartbeat> logger) : BackgroundService
{
    private static readonly DateTimeOffset ProcessStartedAt = StartTimeOf(Process.GetCurrentProcess()) ?? DateTimeOffset.UtcNow;

    /// <summary>A process start time read twice may differ by the rounding of the system's boot time.</summary>
    private static readonly TimeSpan StartTimeTolerance = TimeSpan.FromSeconds(2);

    /// <summary>This process, as its claims name it.</summary>
    public OutboxInstance Self { get; } = new(WorkerIdOf(options.Value), Environment.MachineName, Environment.ProcessId, ProcessStartedAt);

    /// <summary>The worker id claims are made under: <see cref="OutboxOptions.WorkerId"/>, or the host name and process id.</summary>
    public static string WorkerIdOf(OutboxOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return string.IsNullOrWhiteSpace(options.WorkerId) ? $"{Environment.MachineName}:{Environment.ProcessId}" : options.WorkerId;
    }

    /// <summary>
    /// At start, before any worker claims: on SQLite, releases the claims of this machine's recorded
    /// processes that are gone; then records this one. Returns how many commands were released.
    /// </summary>
    public async Task<int> StartInstanceAsync(CancellationToken cancellationToken)
    {
        var released = 0;
        if (store is SqliteOutboxStore)
        {
            foreach (var (instance, _) in await store.ListInstancesAsync(cancellationToken).ConfigureAwait(false))
            {
                if (instance.Machine != Self.Machine || IsRunning(instance))
                {
                    // Another machine's (a file on a network share): left to the lease.
                    continue;
                }

                var count = await store.ReleaseClaimsAsync(instance.WorkerId, $"Released at start: process {instance.ProcessId} ({instance.WorkerId}), which claimed it, is gone.", cancellationToken).ConfigureAwait(false);
                if (count > 0)
                {
                    LogReleasedDead(logger, count, instance.WorkerId, instance.ProcessId);
                    released += count;
                }
            }
        }

        await store.RegisterInstanceAsync(Self, await clock.NowAsync(cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        if (released > 0)
        {
            enqueued.Pulse();
        }

        return released;
    }

    /// <summary>One heartbeat: renews this instance's and releases the claims of instances whose heartbeat lapsed.</summary>
    public async Task<int> BeatAsync(CancellationToken cancellationToken)
    {
        var now = await clock.NowAsync(cancellationToken).ConfigureAwait(false);
        await store.RegisterInstanceAsync(Self, now, cancellationToken).ConfigureAwait(false);
        var released = 0;
        foreach (var (worker, count) in await store.ReleaseLapsedAsync(now - options.Value.HeartbeatLapse, cancellationToken).ConfigureAwait(false))
        {
            LogReleasedLapsed(logger, count, worker, options.Value.HeartbeatLapse.TotalSeconds);
            released += count;
        }

        if (released > 0)
        {
            enqueued.Pulse();
        }

        return released;
    }

    /// <inheritdoc/>
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (store is SqliteOutboxStore)
        {
            return Task.CompletedTask;
        }

        return WorkerLoop.RunAsync(
            ready,
            async stopping =>
            {
                try
                {
                    await BeatAsync(stopping).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
                {
                    // Beat again at the usual interval, not the loop's growing back-off: a few seconds'
                    // trouble with the database must not look like this instance's death to the others.
                    LogBeatFailed(logger, ex.GetType().Name, ex.Message);
                }

                await Task.Delay(options.Value.HeartbeatInterval, time, stopping).ConfigureAwait(false);
            },
            ex => LogBeatFailed(logger, ex.GetType().Name, ex.Message),
            time,
            stoppingToken);
    }

    /// <summary>Whether the process <paramref name="instance"/> names is still the one running under its id.</summary>
    internal static bool IsRunning(OutboxInstance instance)
    {
        ArgumentNullException.ThrowIfNull(instance);
        Process process;
        try
        {
            process = Process.GetProcessById(instance.ProcessId);
        }
        catch (ArgumentException)
        {
            return false; // no process with this id
        }

        using (process)
        {
            // A start time that cannot be read (another user's process elsewhere than Linux): running, as
            // far as anyone can tell; its claims wait for the lease.
            return StartTimeOf(process) is not { } started || (started - instance.StartedAt).Duration() <= StartTimeTolerance;
        }
    }

    private static DateTimeOffset? StartTimeOf(Process process)
    {
        try
        {
            return process.HasExited ? DateTimeOffset.MinValue : new DateTimeOffset(process.StartTime.ToUniversalTime(), TimeSpan.Zero);
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException)
        {
            return null;
        }
    }

    [LoggerMessage(EventId = 4030, Level = LogLevel.Warning, Message = "Released {Count} outbox command(s) claimed by {WorkerId}: process {ProcessId} of this machine is gone; they are sent now")]
    private static partial void LogReleasedDead(ILogger logger, int count, string workerId, int processId);

    [LoggerMessage(EventId = 4031, Level = LogLevel.Warning, Message = "Released {Count} outbox command(s) claimed by {WorkerId}: its heartbeat stopped more than {LapseSeconds} s ago; they are sent now")]
    private static partial void LogReleasedLapsed(ILogger logger, int count, string workerId, double lapseSeconds);

    [LoggerMessage(EventId = 4032, Level = LogLevel.Warning, Message = "Outbox heartbeat not recorded: {ErrorType} {Error}")]
    private static partial void LogBeatFailed(ILogger logger, string errorType, string error);
}
