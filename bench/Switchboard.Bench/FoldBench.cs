using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Switchboard.Bitrix24.Events;
using Switchboard.Bitrix24.Wire;
using Switchboard.Calls;
using Switchboard.Journal;
using Switchboard.Outbox;

namespace Switchboard.Bench;

/// <summary>
/// <c>switchboard-bench fold</c>: the call ledger's cost per event, alone. The load's events (the same
/// four kinds, unique CALL_IDs, stamped with advancing send times) are parsed up front, as the journal
/// writer hands them to the ledger, and folded into a fresh <c>ledger.db</c> in passes of the size a
/// 50 ms pass has under load. Reports the process's CPU and managed allocation per folded event: no
/// HTTP, no journal, so differences between builds are the ledger's own.
/// </summary>
internal static class FoldBench
{
    public static Command Command()
    {
        var events = new Option<int>("--events") { Description = "Events folded (after as many again for warm-up).", DefaultValueFactory = _ => 200_000 };
        var pass = new Option<int>("--pass") { Description = "Events per pass (a 50 ms pass at 15,000 events/s folds 750).", DefaultValueFactory = _ => 750 };
        var rate = new Option<int>("--rate") { Description = "Events per second of send time the stamps advance by (CALL_IDs and ts).", DefaultValueFactory = _ => 15_000 };
        var command = new Command("fold", "CPU and allocation per event of the call ledger's fold alone, on a fresh ledger.db in a temporary directory.") { events, pass, rate };
        command.SetAction(async (parse, ct) =>
        {
            var n = parse.GetValue(events);
            var p = parse.GetValue(pass);
            var r = parse.GetValue(rate);
            if (n <= 0 || p <= 0 || r <= 0)
            {
                await Console.Error.WriteLineAsync("--events, --pass and --rate must be positive.").ConfigureAwait(false);
                return 2;
            }

            await RunAsync(n, p, r, Console.Out, ct).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    private static async Task RunAsync(int count, int passSize, int rate, TextWriter output, CancellationToken ct)
    {
        var directory = Directory.CreateTempSubdirectory("switchboard-fold-");
        try
        {
            var outbox = new SqliteOutboxStore(Path.Combine(directory.FullName, "ledger.db"));
            await using (outbox.ConfigureAwait(false))
            {
                await outbox.InitializeAsync(ct).ConfigureAwait(false);
                var calls = new SqliteCallStore(outbox);
                await calls.InitializeAsync(ct).ConfigureAwait(false);

                var portal = new BenchPortal(TimeProvider.System);
                var templates = portal.Templates(64, new Random(7));
                var start = DateTimeOffset.UtcNow;
                long id = 0;
                ulong unique = 0;

                // Warm-up (tiered JIT, the page cache), then the measured events. Each pass's events are
                // parsed just before it, as the writer hands them over, and only the fold is timed: the
                // ledger never holds more than a pass of events, and neither does this.
                var cursor = await calls.GetCursorAsync(ct).ConfigureAwait(false);
                var collector = ThreadCpu.CollectorNote();
                var feed = new List<JournalEvent>(passSize);
                foreach (var (label, n) in new[] { ("warm-up", count), ("measured", count) })
                {
                    var cpu = TimeSpan.Zero;
                    var threadCpu = TimeSpan.Zero;
                    var wall = TimeSpan.Zero;
                    long bytes = 0;
                    long written = 0;
                    for (var done = 0; done < n; done += feed.Count)
                    {
                        feed.Clear();
                        for (var i = 0; i < Math.Min(passSize, n - done); i++)
                        {
                            var template = templates[(int)(unique % (ulong)templates.Length)];
                            var sent = start.AddSeconds((double)id / rate);
                            var body = template.Stamp(++unique, sent.ToUnixTimeSeconds());
                            var ev = Bitrix24EventReader.Read(PhpFormParser.Parse(body).Root!).Event!;
                            feed.Add(JournalFeed.AsStored(++id, sent, portal.MemberId, ev));
                        }

                        var written0 = WrittenBytes.Now();
                        var cpu0 = ThreadCpu.ProcessNow();
                        var thread0 = ThreadCpu.Now();
                        var allocated0 = GC.GetTotalAllocatedBytes(precise: false);
                        var wall0 = Stopwatch.GetTimestamp();
                        var result = await calls.FoldAsync(cursor, feed, feed[^1].Id, DateTimeOffset.UtcNow, ct).ConfigureAwait(false);
                        wall += Stopwatch.GetElapsedTime(wall0);
                        bytes += GC.GetTotalAllocatedBytes(precise: false) - allocated0;
                        cpu += ThreadCpu.ProcessNow() - cpu0;
                        threadCpu += ThreadCpu.Now() - thread0;
                        written += WrittenBytes.Now() - written0;
                        if (result.Conflict)
                        {
                            throw new InvalidOperationException("The ledger's cursor moved under the benchmark.");
                        }

                        cursor = feed[^1].Id;
                    }

                    await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                        $"{label,-9} {n:N0} events in passes of {passSize} ({collector}): {threadCpu.TotalMicroseconds / n:F1} µs CPU on the folding thread ({cpu.TotalMicroseconds / n:F1} µs the whole process) and {bytes / n:N0} bytes allocated per event, {written / n:N0} bytes written per event, {n / wall.TotalSeconds:N0} events/s while folding")).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            directory.Delete(recursive: true);
        }
    }
}

/// <summary>
/// Bytes the process has handed to write system calls (Linux <c>/proc/self/io</c>, <c>wchar</c>): here
/// the ledger's WAL frames and checkpoints. Unlike CPU time it does not move with the machine's speed,
/// so it tells two builds' write amplification apart in one run each. Zero elsewhere.
/// </summary>
internal static class WrittenBytes
{
    public static long Now()
    {
        if (!OperatingSystem.IsLinux())
        {
            return 0;
        }

        foreach (var line in File.ReadLines("/proc/self/io"))
        {
            if (line.StartsWith("wchar:", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(6).Trim(), CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }
}

/// <summary>
/// The calling thread's CPU time (Linux <c>CLOCK_THREAD_CPUTIME_ID</c>): a fold runs synchronously on
/// the thread that calls it, and the process's total also counts the JIT and the collector's background
/// thread, which on a two-core VM made runs of one build differ by a fifth.
/// </summary>
internal static class ThreadCpu
{
    private const int ClockThreadCpuTimeId = 3;
    private const int ClockProcessCpuTimeId = 2;

    public static TimeSpan Now() => Read(ClockThreadCpuTimeId);

    /// <summary>
    /// The whole process's CPU time (<c>CLOCK_PROCESS_CPUTIME_ID</c>), to the nanosecond.
    /// <see cref="Process.TotalProcessorTime"/> counts in the kernel's 10 ms ticks, coarser than one
    /// commit or fold.
    /// </summary>
    public static TimeSpan ProcessNow() => Read(ClockProcessCpuTimeId);

    private static TimeSpan Read(int clock)
    {
        if (!OperatingSystem.IsLinux() || ClockGetTime(clock, out var ts) != 0)
        {
            return TimeSpan.Zero;
        }

        return TimeSpan.FromTicks((ts.Seconds * TimeSpan.TicksPerSecond) + (ts.Nanoseconds / 100));
    }

    /// <summary>
    /// Which collector this process runs, and a warning when it is not Switchboard's: the bench's own
    /// default is server GC (for the ceiling, as Kestrel's default), whose collections run on threads of
    /// their own, outside the thread clock, while Switchboard's workstation GC collects on the thread
    /// that allocates.
    /// </summary>
    public static string CollectorNote()
    {
        if (!System.Runtime.GCSettings.IsServerGC)
        {
            return "workstation GC, as Switchboard";
        }

        Console.Error.WriteLine("switchboard-bench: this process runs server GC; Switchboard runs workstation GC. Run with DOTNET_gcServer=0 to measure as Switchboard collects.");
        return "server GC, not Switchboard's";
    }

#pragma warning disable SYSLIB1054 // LibraryImport needs unsafe code in this project; one blittable call.
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec value);
#pragma warning restore SYSLIB1054

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }
}
