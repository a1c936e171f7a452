using System.Globalization;

namespace Switchboard.Bench;

/// <summary>
/// Busy time of the whole machine from <c>/proc/stat</c> (Linux; null elsewhere). Compared with the
/// generator's and the server's own CPU it shows whether something else was running during the
/// window, which makes a loopback benchmark on a small machine meaningless.
/// </summary>
internal readonly record struct MachineCpu(long Busy, long Total)
{
    public static MachineCpu? Read()
    {
        try
        {
            using var reader = new StreamReader("/proc/stat");
            var line = reader.ReadLine();
            if (line is null || !line.StartsWith("cpu ", StringComparison.Ordinal))
            {
                return null;
            }

            // user nice system idle iowait irq softirq steal (guest is already inside user).
            var f = line[4..].Split(' ', StringSplitOptions.RemoveEmptyEntries)
                .Take(8).Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            if (f.Length < 8)
            {
                return null;
            }

            var idle = f[3] + f[4];
            var total = f.Sum();
            return new MachineCpu(total - idle, total);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Cores busy on average between two readings.</summary>
    public static double? BusyCores(MachineCpu? start, MachineCpu? end) =>
        start is { } s && end is { } e && e.Total > s.Total
            ? (double)(e.Busy - s.Busy) / (e.Total - s.Total) * Environment.ProcessorCount
            : null;
}
