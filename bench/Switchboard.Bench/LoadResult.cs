using System.Diagnostics;
using System.Globalization;

namespace Switchboard.Bench;

/// <summary>Latency percentiles of the measured requests, in milliseconds (nearest rank).</summary>
internal sealed record LatencySummary(double P50, double P90, double P99, double P999, double Max, double Mean)
{
    public static LatencySummary From(long[] sortedTicks)
    {
        if (sortedTicks.Length == 0)
        {
            return new(double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);
        }

        double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
        double At(double p) => Ms(sortedTicks[Math.Clamp((int)Math.Ceiling(p * sortedTicks.Length) - 1, 0, sortedTicks.Length - 1)]);
        var sum = 0.0;
        foreach (var t in sortedTicks)
        {
            sum += t;
        }

        return new(At(0.50), At(0.90), At(0.99), At(0.999), Ms(sortedTicks[^1]), Ms((long)(sum / sortedTicks.Length)));
    }
}

/// <summary>
/// One measured run. <see cref="Requests"/> counts every answered request started in the measured
/// window (any status); <see cref="Throughput"/> counts only the 200s, so a server that answers
/// errors fast does not look fast. CPU is in cores (1.0 = one core busy for the whole window).
/// </summary>
internal sealed record LoadResult(
    string Endpoint,
    int Connections,
    double WarmupSeconds,
    double MeasuredSeconds,
    long Requests,
    long Ok,
    double Throughput,
    LatencySummary LatencyMs,
    IReadOnlyDictionary<string, long> Non200,
    IReadOnlyDictionary<string, long> Errors,
    long WarmupRequests,
    long WarmupFailures,
    double GeneratorCpuCores,
    double? ServerCpuCores,
    double? MachineBusyCores,
    int MachineCores,
    double? ServerAllocatedBytesPerOk = null)
{
    public long Non200Total => Non200.Values.Sum();

    public long ErrorTotal => Errors.Values.Sum();

    /// <summary>Busy cores not explained by the generator or the server: other work on the machine.</summary>
    public double? OtherCpuCores => MachineBusyCores is { } busy && ServerCpuCores is { } server
        ? Math.Max(0, busy - GeneratorCpuCores - server)
        : null;

    internal static LoadResult From(LoadSettings settings, Uri endpoint, LoadRunner.RunClock run, LoadRunner.Worker[] workers, long? serverAllocated = null)
    {
        var total = workers.Sum(w => w.Count);
        var all = new long[total];
        var at = 0;
        foreach (var w in workers)
        {
            Array.Copy(w.Latencies, 0, all, at, w.Count);
            at += w.Count;
        }

        Array.Sort(all);

        var statuses = new long[600];
        var errors = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var w in workers)
        {
            for (var s = 0; s < statuses.Length; s++)
            {
                statuses[s] += w.Statuses[s];
            }

            foreach (var (key, n) in w.Errors)
            {
                errors[key] = errors.GetValueOrDefault(key) + n;
            }
        }

        var non200 = new SortedDictionary<string, long>(StringComparer.Ordinal);
        for (var s = 0; s < statuses.Length; s++)
        {
            if (s != 200 && statuses[s] > 0)
            {
                non200[s.ToString(CultureInfo.InvariantCulture)] = statuses[s];
            }
        }

        var seconds = (run.MeasureEnd - run.MeasureStart) / (double)Stopwatch.Frequency;
        var ok = statuses[200];
        return new LoadResult(
            endpoint.ToString(),
            settings.Connections,
            settings.Warmup.TotalSeconds,
            seconds,
            total,
            ok,
            seconds > 0 ? ok / seconds : 0,
            LatencySummary.From(all),
            non200,
            errors,
            workers.Sum(w => w.WarmupRequests),
            workers.Sum(w => w.WarmupFailures),
            seconds > 0 ? run.GeneratorCpu.TotalSeconds / seconds : 0,
            run.ServerCpu is { } server && seconds > 0 ? server.TotalSeconds / seconds : null,
            MachineCpu.BusyCores(run.MachineAtStart, run.MachineAtEnd),
            Environment.ProcessorCount,
            serverAllocated is { } bytes && ok > 0 ? bytes / (double)ok : null);
    }
}
