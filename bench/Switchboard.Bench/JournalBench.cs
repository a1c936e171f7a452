using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Options;
using Switchboard.Bitrix24.Events;
using Switchboard.Bitrix24.Wire;
using Switchboard.Journal;
using Switchboard.Journal.Sqlite;
using Switchboard.Portals;
using Switchboard.Receiving;

namespace Switchboard.Bench;

/// <summary>
/// <c>switchboard-bench journal</c>: what receiving an event costs without HTTP, in its two halves.
/// <list type="number">
/// <item><b>Prepare</b>: the request path's own work once the body is read, as <c>EventReceiver</c> does it:
/// parse the form, read the typed event, verify it against the installed portal (the token's SHA-256,
/// compared in constant time with the cached portal's), redact the stored body and derive the dedup key.</item>
/// <item><b>Commit</b>: the journal writer's work, <see cref="IJournalStore.AppendAsync"/> of a batch on a
/// fresh SQLite journal (WAL, <c>synchronous=FULL</c>: an fsync per commit), on the calling thread as the
/// writer thread does it.</item>
/// </list>
/// Each half is timed on the calling thread's CPU clock, batch by batch, and reported per event with the
/// managed allocation and (for the commit) the bytes handed to <c>write</c>; the whole process's CPU and
/// writes over the run add the journal's background checkpointer. Together with <c>fold</c> (the
/// ledger) and HTTP these are the floors of the server's CPU per event that no scheduling can remove;
/// <c>load --server-pid</c> reports what the whole server spends.
/// </summary>
internal static class JournalBench
{
    public static Command Command()
    {
        var events = new Option<int>("--events") { Description = "Events journalled (after as many again for warm-up).", DefaultValueFactory = _ => 100_000 };
        var batch = new Option<int>("--batch") { Description = "Events per commit (under 64 connections the writer's batches average 15-25).", DefaultValueFactory = _ => 16 };
        var command = new Command("journal", "CPU and allocation per event of the receiving path without HTTP: preparing an event, and committing it to a fresh SQLite journal in batches.") { events, batch };
        command.SetAction(async (parse, ct) =>
        {
            var n = parse.GetValue(events);
            var b = parse.GetValue(batch);
            if (n <= 0 || b <= 0 || b > 10_000)
            {
                await Console.Error.WriteLineAsync("--events must be positive and --batch between 1 and 10000.").ConfigureAwait(false);
                return 2;
            }

            await RunAsync(n, b, Console.Out, ct).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    private static async Task RunAsync(int count, int batchSize, TextWriter output, CancellationToken ct)
    {
        var directory = Directory.CreateTempSubdirectory("switchboard-journal-");
        try
        {
            var store = new SqliteJournalStore(Path.Combine(directory.FullName, "switchboard.db"));
            await using (store.ConfigureAwait(false))
            {
                await store.InitializeAsync(ct).ConfigureAwait(false);
                var time = TimeProvider.System;
                var install = new FixedOptions<InstallOptions>(new InstallOptions());
                var verifier = new EventVerifier(
                    new PortalDirectory(store, time),
                    new InstallPolicy(install),
                    new FirstInstallAccepted(),
                    new VerificationAdmission(install),
                    store,
                    install,
                    time);
                var limits = new ReceivingOptions().ToLimits();
                var portal = new BenchPortal(time);
                await InstallAsync(store, verifier, portal, limits, ct).ConfigureAwait(false);

                var templates = portal.Templates(64, new Random(7));
                var collector = ThreadCpu.CollectorNote();
                ulong unique = 0;
                var appends = new List<JournalAppend>(batchSize);
                foreach (var (label, n) in new[] { ("warm-up", count), ("measured", count) })
                {
                    var prepareCpu = TimeSpan.Zero;
                    var commitCpu = TimeSpan.Zero;
                    var commitProcessCpu = TimeSpan.Zero;
                    var commitWall = TimeSpan.Zero;
                    long prepareBytes = 0;
                    long commitBytes = 0;
                    long commitWritten = 0;
                    var commits = 0;

                    // The whole phase too: the checkpointer (and, under server GC, the collector) also
                    // runs while events are being prepared.
                    var phaseCpu0 = ThreadCpu.ProcessNow();
                    var phaseWritten0 = WrittenBytes.Now();
                    for (var done = 0; done < n; done += appends.Count)
                    {
                        appends.Clear();
                        var thread = Environment.CurrentManagedThreadId;
                        var thread0 = ThreadCpu.Now();
                        var allocated0 = GC.GetAllocatedBytesForCurrentThread();
                        for (var i = 0; i < Math.Min(batchSize, n - done); i++)
                        {
                            var template = templates[(int)(unique % (ulong)templates.Length)];
                            var body = template.Stamp(++unique, time.GetUtcNow().ToUnixTimeSeconds());
                            appends.Add(await PrepareAsync(body, verifier, limits, time, ct).ConfigureAwait(false));
                        }

                        prepareCpu += ThreadCpu.Now() - thread0;
                        prepareBytes += GC.GetAllocatedBytesForCurrentThread() - allocated0;
                        SameThread(thread, "prepare");

                        var written0 = WrittenBytes.Now();
                        var process0 = ThreadCpu.ProcessNow();
                        thread0 = ThreadCpu.Now();
                        allocated0 = GC.GetAllocatedBytesForCurrentThread();
                        var wall0 = Stopwatch.GetTimestamp();

                        // As the journal writer calls it: synchronously, on its own thread.
                        var results = store.AppendAsync(appends, ct).GetAwaiter().GetResult();
                        commitWall += Stopwatch.GetElapsedTime(wall0);
                        commitCpu += ThreadCpu.Now() - thread0;
                        commitBytes += GC.GetAllocatedBytesForCurrentThread() - allocated0;
                        commitProcessCpu += ThreadCpu.ProcessNow() - process0;
                        commitWritten += WrittenBytes.Now() - written0;
                        SameThread(thread, "commit");
                        commits++;
                        foreach (var result in results)
                        {
                            if (result.Status != AppendStatus.Stored)
                            {
                                throw new InvalidOperationException($"An event was not stored ({result.Status}): the benchmark's events must all be new and verified.");
                            }
                        }
                    }

                    var phaseCpu = ThreadCpu.ProcessNow() - phaseCpu0;
                    var phaseWritten = WrittenBytes.Now() - phaseWritten0;
                    await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                        $"{label,-9} {n:N0} events, {commits:N0} commits of {batchSize} ({collector}): prepare {prepareCpu.TotalMicroseconds / n:F1} µs CPU and {prepareBytes / n:N0} bytes allocated per event; commit {commitCpu.TotalMicroseconds / n:F1} µs CPU on the committing thread ({commitProcessCpu.TotalMicroseconds / n:F1} µs the whole process meanwhile), {commitBytes / n:N0} bytes allocated, {commitWritten / n:N0} bytes written per event, {commitWall.TotalMicroseconds / commits:F0} µs per commit ({n / commitWall.TotalSeconds:N0} events/s while committing); the whole process over the phase: {phaseCpu.TotalMicroseconds / n:F1} µs CPU and {phaseWritten / n:N0} bytes written per event")).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            directory.Delete(recursive: true);
        }
    }

    // The thread clock only measures a part if all of it ran on this thread: today every await in the
    // loop completes synchronously (SQLite's provider is synchronous, the portal cache is local). A store
    // that started to complete elsewhere would make the figures meaningless, so it stops the run.
    private static void SameThread(int thread, string part)
    {
        if (Environment.CurrentManagedThreadId != thread)
        {
            throw new InvalidOperationException($"The {part} part continued on another thread; the thread CPU clock no longer measures it.");
        }
    }

    /// <summary>The bench portal's ONAPPINSTALL, verified and journalled as the server would.</summary>
    private static async Task InstallAsync(SqliteJournalStore store, EventVerifier verifier, BenchPortal portal, FormLimits limits, CancellationToken ct)
    {
        var install = await PrepareAsync(portal.InstallBody(), verifier, limits, TimeProvider.System, ct).ConfigureAwait(false);
        var result = (await store.AppendAsync([install], ct).ConfigureAwait(false))[0];
        if (result.Status != AppendStatus.Stored)
        {
            throw new InvalidOperationException($"The bench portal's install was not stored ({result.Status}).");
        }
    }

    /// <summary>What <c>EventReceiver.ReceiveAsync</c> does between reading the body and queueing the append.</summary>
    private static async ValueTask<JournalAppend> PrepareAsync(byte[] body, EventVerifier verifier, FormLimits limits, TimeProvider time, CancellationToken ct)
    {
        var parsed = PhpFormParser.Parse(body, limits);
        if (!parsed.Success)
        {
            throw new InvalidOperationException("A bench body did not parse: " + parsed.Detail);
        }

        var typed = Bitrix24EventReader.Read(parsed.Root);
        if (!typed.Success)
        {
            throw new InvalidOperationException("A bench body is not an event: " + typed.Error);
        }

        var ev = typed.Event;
        var verdict = await verifier.VerifyAsync(ev, ct).ConfigureAwait(false);
        if (!verdict.Accepted)
        {
            throw new InvalidOperationException($"A bench event was refused: {verdict.Rejection} {verdict.Reason}");
        }

        return JournalBody.ToAppend(time.GetUtcNow(), JournalBody.FormType, body, ev, parsed.Root, verdict);
    }

    /// <summary>
    /// The bench portal is the only portal and its install is this process's own: the bench plays the
    /// OAuth server too and grants what its install names (the server exchanges the install's refresh
    /// token at the OAuth server; the bench measures the journal, not that round trip).
    /// </summary>
    private sealed class FirstInstallAccepted : IInstallVerifier
    {
        public ValueTask<InstallProof> ProveAsync(string memberId, string tokenHash, EventAuth auth, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new InstallProof(ProofOutcome.Proven,
                new Switchboard.Bitrix24.OAuth.OAuthGrant(
                    new Switchboard.Bitrix24.OAuth.PortalTokens(auth.AccessToken ?? "", auth.RefreshToken ?? "", null),
                    memberId, auth.ClientEndpoint, auth.ServerEndpoint, string.Join(',', auth.Scope), auth.Status?.Code, auth.UserId),
                "The bench's own install."));
    }

    private sealed class FixedOptions<T>(T value) : IOptionsMonitor<T>
    {
        public T CurrentValue => value;

        public T Get(string? name) => value;

        public IDisposable? OnChange(Action<T, string?> listener) => null;
    }
}
