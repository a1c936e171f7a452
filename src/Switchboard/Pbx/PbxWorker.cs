using Microsoft.Extensions.Options;
using Switchboard.Calls;
using Switchboard.Hosting;
using Switchboard.Journal;
using Switchboard.Outbox;

namespace Switchboard.Pbx;

/// <summary>The configured PBXes, their connectors, and which one serves a portal.</summary>
public sealed class PbxRegistry
{
    /// <summary>Builds a connector per configured Asterisk.</summary>
    public PbxRegistry(
        IOptions<PbxOptions> options,
        IOptions<OutboxOptions> outboxOptions,
        SqlCallStore calls,
        IJournalStore journal,
        StoreClock clock,
        [FromKeyedServices(WorkSignal.OutboxEnqueued)] WorkSignal outboxSignal,
        RecordingWatcher recordings,
        SwitchboardMetrics metrics,
        TimeProvider time,
        ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(outboxOptions);
        ArgumentNullException.ThrowIfNull(loggers);
        // The same identity as the outbox's claims: one instance, one name in every lease.
        InstanceId = string.IsNullOrWhiteSpace(outboxOptions.Value.WorkerId)
            ? $"{Environment.MachineName}:{Environment.ProcessId}"
            : outboxOptions.Value.WorkerId;
        var logger = loggers.CreateLogger<AsteriskConnector>();
        Connectors = [.. options.Value.Asterisk.OrderBy(kv => kv.Key, StringComparer.OrdinalIgnoreCase).Select(kv =>
            new AsteriskConnector(kv.Key, kv.Value, options.Value, calls, journal, clock, outboxSignal, recordings, metrics, time, InstanceId, logger))];
    }

    /// <summary>This instance's name in leases.</summary>
    public string InstanceId { get; }

    /// <summary>Every configured PBX, by name.</summary>
    public IReadOnlyList<AsteriskConnector> Connectors { get; }

    /// <summary>True when no PBX is configured: clicks are finished as failed, saying so.</summary>
    public bool None => Connectors.Count == 0;

    /// <summary>True when this instance holds at least one PBX's connection (or none is configured): its originate lane has work it can do.</summary>
    public bool CanOriginate => None || Connectors.Any(c => c.HoldsLease);

    /// <summary>
    /// What an operator must fix, per PBX this instance holds: unreachable, login refused, the store
    /// unable to hold the lease. A PBX another instance holds is that instance's to report.
    /// </summary>
    public IReadOnlyList<string> Problems() =>
    [
        .. Connectors.Select(c => c.Status)
            .Where(s => s.State is PbxState.Unreachable or PbxState.LoginRefused or PbxState.StoreUnavailable)
            .Select(s => $"PBX {s.Name} ({s.Address}): {s.LastError ?? s.State.ToString()}"),
    ];

    /// <summary>
    /// The PBX that serves a portal: the one whose MemberId is the portal's, else the one configured
    /// without a MemberId once it has found that this portal is the one installed.
    /// </summary>
    public AsteriskConnector? ForPortal(string memberId) =>
        Connectors.FirstOrDefault(c => string.Equals(c.Options.MemberId, memberId, StringComparison.Ordinal))
        ?? Connectors.FirstOrDefault(c => string.IsNullOrEmpty(c.Options.MemberId) && string.Equals(c.MemberId, memberId, StringComparison.Ordinal))
        ?? (Connectors.Count(c => string.IsNullOrEmpty(c.Options.MemberId)) == 1 && Connectors.Count == 1 && Connectors[0].MemberId is null ? Connectors[0] : null);
}

/// <summary>Runs every PBX's connector until the server stops.</summary>
public sealed class PbxWorker(PbxRegistry registry, StoresReady ready) : BackgroundService
{
    /// <inheritdoc/>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await ready.WhenReady.WaitAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        await Task.WhenAll(registry.Connectors.Select(c => c.RunAsync(stoppingToken))).ConfigureAwait(false);
    }
}
