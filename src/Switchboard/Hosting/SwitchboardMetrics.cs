using System.Diagnostics.Metrics;
using Switchboard.Bitrix24.Events;

namespace Switchboard.Hosting;

/// <summary>
/// Switchboard's instruments on the "Switchboard" meter: any OpenTelemetry or dotnet-counters
/// listener sees them, and <c>GET /metrics</c> prints them in Prometheus text format.
/// </summary>
public sealed class SwitchboardMetrics : IDisposable
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Switchboard";

    private readonly Meter _meter;
    private readonly Counter<long> _events;
    private readonly Counter<long> _commitFailures;
    private readonly Histogram<double> _commitSeconds;
    private readonly Histogram<int> _batchSize;
    private readonly Counter<long> _outboxCommands;
    private readonly Counter<long> _ledgerEvents;
    private readonly Counter<long> _pbxOriginates;
    private readonly Counter<long> _pbxCalls;
    private readonly Counter<long> _pbxConnections;

    public SwitchboardMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        _meter = meterFactory.Create(MeterName);
        _events = _meter.CreateCounter<long>("switchboard.events", description: "Event deliveries received, by outcome.");
        _commitFailures = _meter.CreateCounter<long>("switchboard.journal.commit_failures", description: "Journal commits that failed.");
        _commitSeconds = _meter.CreateHistogram<double>("switchboard.journal.commit_duration", unit: "s", description: "Time to commit one batch.");
        _batchSize = _meter.CreateHistogram<int>("switchboard.journal.batch_size", description: "Events per journal commit.");
        _outboxCommands = _meter.CreateCounter<long>("switchboard.outbox.commands", description: "Outbox command executions, by kind and outcome (done, retry, dead).");
        _ledgerEvents = _meter.CreateCounter<long>("switchboard.ledger.events", description: "Journal rows folded into the call ledger.");
        _pbxOriginates = _meter.CreateCounter<long>("switchboard.pbx.originates", description: "Click-to-call originates, by outcome (queued, found, unknown, no_pbx, too_late, no_extension, bad_number, repeat_click, no_route, refused).");
        _pbxCalls = _meter.CreateCounter<long>("switchboard.pbx.calls_ended", description: "Calls the PBX connector ended, by status and whether the end was reconstructed after an outage.");
        _pbxConnections = _meter.CreateCounter<long>("switchboard.pbx.connections", description: "AMI connection events, by PBX and event (connected, disconnected, unreachable, login_refused).");
    }

    /// <summary>Counts one delivery with its outcome (stored, duplicate, unauthorized, forbidden, bad_request, timeout, too_large, unsupported_media_type, unavailable, aborted) and event name.</summary>
    public void EventReceived(string outcome, string? eventName) =>
        _events.Add(1, new KeyValuePair<string, object?>("outcome", outcome), new KeyValuePair<string, object?>("event", TagFor(eventName)));

    // Event names come from the request: only known ones become tag values, so a flood of made-up
    // names cannot grow the metric without bound.
    private static string TagFor(string? eventName) => eventName switch
    {
        null => "none",
        EventNames.ExternalCallStart or EventNames.ExternalCallBackStart or EventNames.VoximplantCallInit
            or EventNames.VoximplantCallStart or EventNames.VoximplantCallEnd or EventNames.AppInstall
            or EventNames.AppUpdate or EventNames.AppUninstall or EventNames.OfflineEvent => eventName,
        _ => "other",
    };

    /// <summary>Records a successful commit.</summary>
    public void RecordCommit(int batchSize, TimeSpan elapsed)
    {
        _batchSize.Record(batchSize);
        _commitSeconds.Record(elapsed.TotalSeconds);
    }

    /// <summary>Counts one executed outbox command; <paramref name="kind"/> is one of <c>OutboxKinds</c> (a bounded set).</summary>
    public void OutboxCommand(string kind, string outcome) =>
        _outboxCommands.Add(1, new KeyValuePair<string, object?>("kind", kind), new KeyValuePair<string, object?>("outcome", outcome));

    /// <summary>Counts journal rows folded into the ledger, by where they came from: <c>feed</c> (handed
    /// over in memory by this process's journal writer) or <c>journal</c> (read back from the store).</summary>
    public void LedgerFolded(int events, string source) => _ledgerEvents.Add(events, new KeyValuePair<string, object?>("source", source));

    /// <summary>Counts one originate by its outcome (a bounded set of words, see the description).</summary>
    public void PbxOriginate(string outcome) => _pbxOriginates.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    /// <summary>Counts a call ended by the PBX connector; the status is a Bitrix24 code (a bounded set).</summary>
    public void PbxCallEnded(string status, bool reconstructed) =>
        _pbxCalls.Add(1, new KeyValuePair<string, object?>("status", status), new KeyValuePair<string, object?>("reconstructed", reconstructed ? "true" : "false"));

    /// <summary>Counts a connection event of a configured PBX (names come from the settings, a bounded set).</summary>
    public void PbxConnection(string pbx, string what) =>
        _pbxConnections.Add(1, new KeyValuePair<string, object?>("pbx", pbx), new KeyValuePair<string, object?>("event", what));

    /// <summary>Counts a failed commit.</summary>
    public void CommitFailed() => _commitFailures.Add(1);

    public void Dispose() => _meter.Dispose();
}
