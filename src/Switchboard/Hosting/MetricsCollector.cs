using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Switchboard.Hosting;

/// <summary>
/// Listens to the "Switchboard" meter and renders counters and histograms (as _count and _sum) in
/// Prometheus text format. Hand-rolled because the OpenTelemetry Prometheus exporter is not
/// available as a stable package here; it covers exactly the instruments Switchboard has.
/// </summary>
public sealed class MetricsCollector : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<(string Name, string Labels), Series> _series = new();
    private readonly ConcurrentDictionary<(Instrument, object?, object?, int), Series> _byTags = new();

    public MetricsCollector(IMeterFactory meterFactory)
    {
        // Only this host's meter: several hosts in one process (tests) each have their own factory.
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == SwitchboardMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, meterFactory))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, value, tags, _) => Record(i, value, tags));
        _listener.SetMeasurementEventCallback<int>((i, value, tags, _) => Record(i, value, tags));
        _listener.SetMeasurementEventCallback<double>((i, value, tags, _) => Record(i, value, tags));
        _listener.Start();
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        // Switchboard's instruments carry at most two tags: look the series up by their values
        // without building the label text on every measurement.
        if (tags.Length > 2)
        {
            _series.GetOrAdd((instrument.Name, Labels(tags)), _ => new Series(false, instrument.Description)).Add(value);
            return;
        }

        var key = (instrument, tags.Length > 0 ? tags[0].Value : null, tags.Length > 1 ? tags[1].Value : null, tags.Length);
        if (!_byTags.TryGetValue(key, out var series))
        {
            series = _series.GetOrAdd((instrument.Name, Labels(tags)), _ => new Series(instrument is Histogram<double> or Histogram<int> or Histogram<long>, instrument.Description));
            _byTags.TryAdd(key, series);
        }

        series.Add(value);
    }

    private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var labels = new StringBuilder();
        foreach (var tag in tags)
        {
            labels.Append(labels.Length == 0 ? "" : ",").Append(tag.Key).Append("=\"")
                .Append(Escape(tag.Value?.ToString())).Append('"');
        }

        return labels.ToString();
    }

    // Prometheus label values: backslash, quote and newline escaped.
    private static string? Escape(string? value) =>
        value?.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    /// <summary>The exposition text.</summary>
    public string Render(Journal.IJournalStore? store = null, Outbox.StoreClock? clock = null, IReadOnlyList<Pbx.PbxStatusReport>? pbx = null)
    {
        var sb = new StringBuilder();
        foreach (var group in _series.OrderBy(s => s.Key.Name, StringComparer.Ordinal).ThenBy(s => s.Key.Labels, StringComparer.Ordinal).GroupBy(s => s.Key.Name))
        {
            var name = group.Key.Replace('.', '_');
            var first = group.First().Value;
            Header(sb, name, first.IsHistogram ? "summary" : "counter", first.Description);
            foreach (var (key, series) in group)
            {
                var labels = key.Labels.Length == 0 ? "" : "{" + key.Labels + "}";
                if (series.IsHistogram)
                {
                    sb.Append(name).Append("_count").Append(labels).Append(' ').Append(series.Count.ToString(CultureInfo.InvariantCulture)).Append('\n');
                    sb.Append(name).Append("_sum").Append(labels).Append(' ').Append(series.Sum.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
                }
                else
                {
                    sb.Append(name).Append("_total").Append(labels).Append(' ').Append(series.Sum.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
                }
            }
        }

        AppendRuntime(sb);
        if (store is Journal.Sqlite.SqliteJournalStore sqlite)
        {
            AppendWal(sb, sqlite);
        }

        if (clock is not null)
        {
            Header(sb, "switchboard_store_clock_offset_seconds", "gauge", "The database's clock minus this machine's, as last measured; outbox leases and due times use the database's (0 on SQLite).")
                .Append("switchboard_store_clock_offset_seconds ").Append(clock.Offset.TotalSeconds.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
            Header(sb, "switchboard_store_clock_measured", "gauge", "1 once the database's clock has been read (the offset above is known); until then this instance sends no outbox command.")
                .Append("switchboard_store_clock_measured ").Append(clock.Measured ? '1' : '0').Append('\n');
        }

        if (pbx is { Count: > 0 })
        {
            AppendPbx(sb, pbx);
        }

        return sb.ToString();
    }

    /// <summary>Each configured PBX's connection as this instance sees it (a standby instance shows 0 for a PBX another one holds).</summary>
    private static void AppendPbx(StringBuilder sb, IReadOnlyList<Pbx.PbxStatusReport> pbx)
    {
        Header(sb, "switchboard_pbx_connected", "gauge", "1 while this instance is logged in to the PBX's AMI and following its calls.");
        foreach (var p in pbx)
        {
            sb.Append("switchboard_pbx_connected{pbx=\"").Append(Escape(p.Name)).Append("\"} ").Append(p.State == Pbx.PbxState.Connected ? '1' : '0').Append('\n');
        }

        Header(sb, "switchboard_pbx_live_calls", "gauge", "Calls this instance follows on the PBX now.");
        foreach (var p in pbx)
        {
            sb.Append("switchboard_pbx_live_calls{pbx=\"").Append(Escape(p.Name)).Append("\"} ").Append(p.LiveCalls.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        Header(sb, "switchboard_pbx_reconciled_calls", "counter", "Calls ended by reconciliation after an outage (their end inferred, not seen) since this instance started.");
        foreach (var p in pbx)
        {
            sb.Append("switchboard_pbx_reconciled_calls_total{pbx=\"").Append(Escape(p.Name)).Append("\"} ").Append(p.ReconciledCalls.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
    }

    /// <summary>
    /// The runtime's own numbers, read when scraped: what the process allocates and how often and how
    /// long the garbage collector stops it, which is where a busy receiver's CPU goes after the work itself.
    /// </summary>
    private static void AppendRuntime(StringBuilder sb)
    {
        Header(sb, "process_allocated_bytes_total", "counter", "Bytes allocated on the managed heap since start.")
            .Append("process_allocated_bytes_total ").Append(GC.GetTotalAllocatedBytes().ToString(CultureInfo.InvariantCulture)).Append('\n');
        Header(sb, "process_gc_collections_total", "counter", "Garbage collections since start, by generation (a collection of a generation counts for every younger one too).");
        for (var gen = 0; gen <= GC.MaxGeneration; gen++)
        {
            sb.Append("process_gc_collections_total{generation=\"").Append(gen.ToString(CultureInfo.InvariantCulture)).Append("\"} ")
                .Append(GC.CollectionCount(gen).ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        Header(sb, "process_gc_pause_seconds_total", "counter", "Time the garbage collector paused the process since start.")
            .Append("process_gc_pause_seconds_total ").Append(GC.GetTotalPauseDuration().TotalSeconds.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        Header(sb, "process_gc_heap_bytes", "gauge", "Managed heap size after the last collection (0 before the first).")
            .Append("process_gc_heap_bytes ").Append(GC.GetGCMemoryInfo().HeapSizeBytes.ToString(CultureInfo.InvariantCulture)).Append('\n');
        Header(sb, "process_gc_server", "gauge", "1 when the process runs the server garbage collector, 0 for the workstation one.")
            .Append("process_gc_server ").Append(System.Runtime.GCSettings.IsServerGC ? '1' : '0').Append('\n');
    }

    /// <summary>The SQLite journal's write-ahead log, which a flood used to grow without end (see <c>SqliteJournalStore</c>).</summary>
    private static void AppendWal(StringBuilder sb, Journal.Sqlite.SqliteJournalStore store)
    {
        Header(sb, "switchboard_journal_wal_frames", "gauge", "Pages in the SQLite journal's write-ahead log at the last background checkpoint; it starts over past 4,096 (16 MiB).")
            .Append("switchboard_journal_wal_frames ").Append(store.WalFrames.ToString(CultureInfo.InvariantCulture)).Append('\n');
        Header(sb, "switchboard_journal_wal_file_bytes", "gauge", "Size of the journal's -wal file: the longest the log has been, cut back to 64 MiB when it starts over.")
            .Append("switchboard_journal_wal_file_bytes ").Append(store.WalFileBytes.ToString(CultureInfo.InvariantCulture)).Append('\n');
        Header(sb, "switchboard_journal_checkpoint_failures_total", "counter", "Background checkpoints of the SQLite journal that failed (the file gone or unreadable); the WAL grows while they do.")
            .Append("switchboard_journal_checkpoint_failures_total ").Append(store.CheckpointFailures.ToString(CultureInfo.InvariantCulture)).Append('\n');
    }

    private static StringBuilder Header(StringBuilder sb, string name, string type, string help) =>
        sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
            .Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    public void Dispose() => _listener.Dispose();

    private sealed class Series(bool isHistogram, string? description)
    {
        private readonly Lock _lock = new();

        public bool IsHistogram { get; } = isHistogram;

        public string Description { get; } = description ?? string.Empty;

        public long Count { get; private set; }

        public double Sum { get; private set; }

        public void Add(double value)
        {
            lock (_lock)
            {
                Count++;
                Sum += value;
            }
        }
    }
}
