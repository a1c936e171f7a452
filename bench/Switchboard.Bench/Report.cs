using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Switchboard.Bench;

/// <summary>Plain-text tables and JSON for load and compare results.</summary>
internal static class Report
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static string ToJson<T>(T value) => JsonSerializer.Serialize(value, Json);

    public static void WriteLoad(TextWriter output, LoadResult r)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(r);
        var l = r.LatencyMs;
        WriteRows(output,
        [
            ["endpoint", r.Endpoint],
            ["connections", N(r.Connections)],
            ["warm-up", $"{r.WarmupSeconds:0.0} s ({N(r.WarmupRequests)} requests, not counted; {N(r.WarmupFailures)} failed)"],
            ["measured", $"{r.MeasuredSeconds:0.00} s"],
            ["requests", $"{N(r.Requests)} answered, {N(r.Ok)} with 200"],
            ["throughput", $"{r.Throughput:0.0} req/s (200s only)"],
            ["latency ms", $"p50 {Ms(l.P50)}  p90 {Ms(l.P90)}  p99 {Ms(l.P99)}  p99.9 {Ms(l.P999)}  max {Ms(l.Max)}  mean {Ms(l.Mean)}"],
            ["non-200", Counts(r.Non200)],
            ["errors", Counts(r.Errors)],
            ["cpu (cores)", $"generator {r.GeneratorCpuCores:0.00}, server {Cores(r.ServerCpuCores)}, other {Cores(r.OtherCpuCores)}; machine busy {Cores(r.MachineBusyCores)} of {r.MachineCores}"],
            ["server allocated", $"{Bytes(r.ServerAllocatedBytesPerOk)} per 200 (process_allocated_bytes_total in its /metrics)"],
        ]);
        if (r.OtherCpuCores > 0.2)
        {
            output.WriteLine($"warning: {r.OtherCpuCores:0.00} cores were busy with other work during the run; the numbers are skewed.");
        }
    }

    public static void WriteCompare(TextWriter output, LoadResult ceiling, LoadResult switchboard)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(ceiling);
        ArgumentNullException.ThrowIfNull(switchboard);
        string[][] rows =
        [
            ["", "ceiling", "switchboard"],
            ["endpoint", ceiling.Endpoint, switchboard.Endpoint],
            ["connections", N(ceiling.Connections), N(switchboard.Connections)],
            ["measured s", $"{ceiling.MeasuredSeconds:0.00}", $"{switchboard.MeasuredSeconds:0.00}"],
            ["requests", N(ceiling.Requests), N(switchboard.Requests)],
            ["throughput req/s", $"{ceiling.Throughput:0.0}", $"{switchboard.Throughput:0.0}"],
            ["p50 ms", Ms(ceiling.LatencyMs.P50), Ms(switchboard.LatencyMs.P50)],
            ["p99 ms", Ms(ceiling.LatencyMs.P99), Ms(switchboard.LatencyMs.P99)],
            ["max ms", Ms(ceiling.LatencyMs.Max), Ms(switchboard.LatencyMs.Max)],
            ["non-200", Counts(ceiling.Non200), Counts(switchboard.Non200)],
            ["errors", Counts(ceiling.Errors), Counts(switchboard.Errors)],
            ["generator cpu (cores)", $"{ceiling.GeneratorCpuCores:0.00}", $"{switchboard.GeneratorCpuCores:0.00}"],
            ["server cpu (cores)", Cores(ceiling.ServerCpuCores), Cores(switchboard.ServerCpuCores)],
            ["other cpu (cores)", Cores(ceiling.OtherCpuCores), Cores(switchboard.OtherCpuCores)],
            ["machine busy (cores)", Cores(ceiling.MachineBusyCores), Cores(switchboard.MachineBusyCores)],
            ["server allocated per 200 (bytes)", Bytes(ceiling.ServerAllocatedBytesPerOk), Bytes(switchboard.ServerAllocatedBytesPerOk)],
        ];
        WriteRows(output, rows, alignRight: true);
        output.WriteLine();
        output.WriteLine($"throughput ratio switchboard/ceiling: {Ratio(ceiling, switchboard):0.000}");
        foreach (var r in (LoadResult[])[ceiling, switchboard])
        {
            if (r.OtherCpuCores > 0.2)
            {
                output.WriteLine($"warning: {r.OtherCpuCores:0.00} cores were busy with other work during the run against {r.Endpoint}; the comparison is skewed.");
            }
        }
    }

    /// <summary>The ratio of each round, and their median, min and max.</summary>
    public static void WriteRounds(TextWriter output, IReadOnlyList<double> ratios)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(ratios);
        output.WriteLine($"throughput ratio switchboard/ceiling by round: {string.Join(", ", ratios.Select(r => r.ToString("0.000", CultureInfo.InvariantCulture)))}");
        output.WriteLine($"median {Median(ratios):0.000}, lowest {ratios.Min():0.000}, highest {ratios.Max():0.000}");
    }

    /// <summary>The median (the mean of the middle two for an even count); NaN for none.</summary>
    public static double Median(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToArray();
        var middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    public static double Ratio(LoadResult ceiling, LoadResult switchboard)
    {
        ArgumentNullException.ThrowIfNull(ceiling);
        ArgumentNullException.ThrowIfNull(switchboard);
        return ceiling.Throughput > 0 ? switchboard.Throughput / ceiling.Throughput : double.NaN;
    }

    private static void WriteRows(TextWriter output, string[][] rows, bool alignRight = false)
    {
        var widths = new int[rows.Max(r => r.Length)];
        foreach (var row in rows)
        {
            for (var i = 0; i < row.Length; i++)
            {
                widths[i] = Math.Max(widths[i], row[i].Length);
            }
        }

        foreach (var row in rows)
        {
            var cells = row.Select((cell, i) => i == 0 || !alignRight ? cell.PadRight(widths[i]) : cell.PadLeft(widths[i]));
            output.WriteLine(string.Join("   ", cells).TrimEnd());
        }
    }

    private static string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    private static string Ms(double ms) => double.IsNaN(ms) ? "-" : ms.ToString(ms < 10 ? "0.000" : "0.0", CultureInfo.InvariantCulture);

    private static string Cores(double? cores) => cores is { } c ? c.ToString("0.00", CultureInfo.InvariantCulture) : "n/a";

    private static string Bytes(double? bytes) => bytes is { } b ? b.ToString("#,0", CultureInfo.InvariantCulture) : "n/a";

    private static string Counts(IReadOnlyDictionary<string, long> counts) =>
        counts.Count == 0 ? "0" : string.Join(", ", counts.Select(kv => $"{kv.Key}: {N(kv.Value)}"));
}
