using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Switchboard.Journal;
using Switchboard.Journal.Postgres;
using Switchboard.Journal.Sqlite;
using Switchboard.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Switchboard.Tests.Durability;

/// <summary>Crash tests start and kill real server processes and load the machine: one at a time, never beside other tests.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CrashTestGroup
{
    public const string Name = "Crash";
}

/// <summary>
/// RELIABILITY.md's first Durability row, "acked means kept": the server runs as a child process,
/// 16 senders stream distinct events at it, it is killed with SIGKILL mid-stream, restarted on the
/// same store, and every event that was answered 200 must be in the journal, once. Three rounds per
/// store: each kill lands on a server that started on the journal the previous kill left behind.
/// </summary>
[Collection(CrashTestGroup.Name)]
public sealed class CrashTests(ITestOutputHelper log)
{
    private const int Senders = 16;
    private const int AcksBeforeKill = 300;
    private const int Rounds = 3;
    private static readonly TimeSpan StreamTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Every_event_answered_200_before_a_SIGKILL_is_in_the_SQLite_journal_after_restart()
    {
        using var data = new TempDirectory();

        await KillMidStreamAndRestartAsync(
            ["--data", data.Path],
            () => new SqliteJournalStore(Path.Combine(data.Path, "switchboard.db")));
    }

    [Fact]
    public async Task Every_event_answered_200_before_a_SIGKILL_is_in_the_PostgreSQL_journal_after_restart()
    {
        var db = new PostgresDatabase();
        await db.InitializeAsync();
        try
        {
            await KillMidStreamAndRestartAsync(
                ["--postgres", db.ConnectionString],
                () => new PostgresJournalStore(db.ConnectionString));
        }
        finally
        {
            await db.DisposeAsync();
        }
    }

    private async Task KillMidStreamAndRestartAsync(string[] storeArguments, Func<IJournalStore> openStore)
    {
        var portal = TestPortal.Create();
        var run = new Run();

        var server = await ServerProcess.StartAsync(storeArguments);
        try
        {
            using (var client = NewClient(server.BaseAddress))
            {
                var install = await PostAsync(client, Bitrix24Events.Install(portal));
                install.StatusCode.Should().Be(HttpStatusCode.OK, server.Output);
            }

            // Each round kills a server that started on the journal the previous kill left behind.
            for (var round = 1; round <= Rounds; round++)
            {
                await StreamThenKillAsync(server, portal, run, round);
                await server.DisposeAsync();
                server = await ServerProcess.StartAsync(storeArguments);
                await using var store = openStore();
                await ShouldHoldEveryAcknowledgedEventOnceAsync(store, run);
            }

            // The restarted server takes up where the dead one stopped: the portal is still installed,
            // an acknowledged event delivered again is the same row, an unacknowledged one is kept now.
            using (var client = NewClient(server.BaseAddress))
            {
                foreach (var callId in run.Acked.Keys.Take(10))
                {
                    using var again = await PostAsync(client, run.Sent[callId]);
                    again.StatusCode.Should().Be(HttpStatusCode.OK, server.Output);
                    using var receipt = JsonDocument.Parse(await again.Content.ReadAsStringAsync());
                    receipt.RootElement.GetProperty("duplicate").GetBoolean().Should().BeTrue();
                    receipt.RootElement.GetProperty("id").GetInt64().Should().Be(run.Acked[callId]);
                }

                foreach (var callId in run.Unacked)
                {
                    using var retry = await PostAsync(client, run.Sent[callId]);
                    retry.StatusCode.Should().Be(HttpStatusCode.OK, server.Output);
                }
            }

            await using (var store = openStore())
            {
                var journal = await store.ListEventsAsync(new JournalQuery(Limit: run.Sent.Count + 100, EventName: "ONEXTERNALCALLSTART"), default);
                journal.Select(e => e.CallId).Should().BeEquivalentTo(run.Sent.Keys, "after the redeliveries every event sent is kept exactly once");
            }
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    /// <summary>16 senders POST distinct events until <see cref="AcksBeforeKill"/> more are acknowledged; then SIGKILL while they keep sending.</summary>
    private async Task StreamThenKillAsync(ServerProcess server, TestPortal portal, Run run, int round)
    {
        var target = run.Acked.Count + AcksBeforeKill;
        var unackedBefore = run.Unacked.Count;
        var surprises = new ConcurrentQueue<string>(); // anything but a 200 before the kill
        var enoughAcks = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var killed = 0;
        using var client = NewClient(server.BaseAddress);

        async Task SendUntilTheServerDiesAsync()
        {
            while (surprises.IsEmpty)
            {
                var callId = Bitrix24Events.NewCallId();
                var body = Bitrix24Events.ExternalCallStart(portal, callId);
                run.Sent[callId] = body;
                try
                {
                    using var response = await PostAsync(client, body);
                    var text = await response.Content.ReadAsStringAsync();
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        surprises.Enqueue($"{callId}: {(int)response.StatusCode} {text}");
                        run.Unacked.Add(callId);
                        break;
                    }

                    run.Acked[callId] = ReceiptId(text);
                    if (run.Acked.Count >= target)
                    {
                        enoughAcks.TrySetResult();
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
                {
                    // Not acknowledged: it may or may not have been kept, and need not be.
                    run.Unacked.Add(callId);
                    if (Volatile.Read(ref killed) == 0)
                    {
                        surprises.Enqueue($"{callId}: {ex.GetType().Name} {ex.Message} before the kill");
                    }

                    return;
                }
            }

            enoughAcks.TrySetResult();
        }

        var senders = Enumerable.Range(0, Senders).Select(_ => Task.Run(SendUntilTheServerDiesAsync)).ToArray();
        await enoughAcks.Task.WaitAsync(StreamTimeout);
        surprises.Should().BeEmpty("every event is answered 200 while the server runs; server output:{0}{1}", Environment.NewLine, server.Output);

        Volatile.Write(ref killed, 1);
        server.Kill();
        var ackedAtKill = run.Acked.Count;
        await Task.WhenAll(senders).WaitAsync(StreamTimeout);

        log.WriteLine($"Round {round}: killed at {ackedAtKill} acknowledged; now {run.Acked.Count} acknowledged, {run.Unacked.Count} not, {run.Sent.Count} sent.");
        server.ExitCode.Should().NotBe(0, "the server was killed, not stopped");
        surprises.Should().BeEmpty();
        run.Unacked.Count.Should().BeGreaterThan(unackedBefore, "the kill must cut requests in flight, or this proves nothing about mid-stream crashes");
        (run.Acked.Count + run.Unacked.Count).Should().Be(run.Sent.Count);
    }

    private static async Task ShouldHoldEveryAcknowledgedEventOnceAsync(IJournalStore store, Run run)
    {
        var journal = await store.ListEventsAsync(new JournalQuery(Limit: run.Sent.Count + 100), default);
        journal.Should().ContainSingle(e => e.EventName == "ONAPPINSTALL");
        var events = journal.Where(e => e.EventName == "ONEXTERNALCALLSTART").ToList();
        var calls = events.Select(e => e.CallId!).ToList();

        var lost = run.Acked.Keys.Except(calls).ToList();
        lost.Should().BeEmpty("every event answered 200 was committed before the answer ({0} of {1} acknowledged are missing)", lost.Count, run.Acked.Count);
        calls.Should().OnlyHaveUniqueItems("each event is journaled once");
        calls.Should().HaveCountLessThanOrEqualTo(run.Sent.Count);
        run.Sent.Keys.Should().Contain(calls, "the journal holds only events that were sent");
        events.Where(e => run.Acked.ContainsKey(e.CallId!)).Should().OnlyContain(e => e.Id == run.Acked[e.CallId!], "the id in the 200 is the row's id");
    }

    /// <summary>What the senders saw, over every round.</summary>
    private sealed class Run
    {
        /// <summary>CALL_ID → body of every event a sender started to POST.</summary>
        public ConcurrentDictionary<string, string> Sent { get; } = new();

        /// <summary>CALL_ID → journal id from the 200.</summary>
        public ConcurrentDictionary<string, long> Acked { get; } = new();

        /// <summary>CALL_IDs whose POST got no 200 (cut by the kill).</summary>
        public ConcurrentBag<string> Unacked { get; } = [];
    }

    private static HttpClient NewClient(Uri baseAddress) => new() { BaseAddress = baseAddress, Timeout = StreamTimeout };

    private static Task<HttpResponseMessage> PostAsync(HttpClient client, string body)
    {
        var content = new StringContent(body);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/x-www-form-urlencoded");
        return client.PostAsync(new Uri("/bitrix24/events", UriKind.Relative), content);
    }

    private static long ReceiptId(string json)
    {
        using var receipt = JsonDocument.Parse(json);
        return receipt.RootElement.GetProperty("id").GetInt64();
    }
}
