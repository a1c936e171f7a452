using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Switchboard.Bitrix24.Events;
using Switchboard.Calls;
using Switchboard.Hosting;
using Switchboard.Journal;
using Switchboard.Outbox;
using Switchboard.Receiving;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Calls;

/// <summary>
/// The ledger worker's two sources, on real SQLite ledgers: rows the journal writer handed over right
/// after the cursor are folded without reading the journal; a feed that lacks the next row sends the
/// ledger to the journal, and every row is folded once; both sources give the same calls.
/// </summary>
public sealed class LedgerFeedTests : IDisposable
{
    private const string FormType = "application/x-www-form-urlencoded";

    // Sub-millisecond on purpose: the journal keeps milliseconds, and so must the feed.
    private static readonly DateTimeOffset T0 = new DateTimeOffset(2026, 3, 11, 14, 28, 46, TimeSpan.Zero).AddTicks(1234);

    private readonly TempDirectory _dir = new();
    private readonly TestPortal _portal = TestPortal.Create();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Rows_in_the_feed_right_after_the_cursor_are_folded_without_reading_the_journal()
    {
        var callIds = Enumerable.Range(0, 3).Select(_ => Bitrix24Events.NewCallId()).ToList();
        var rows = callIds.Select((id, i) => Delivery(i + 1, Bitrix24Events.ExternalCallStart(_portal, id))).ToList();
        var journal = new ScriptedJournal { Refuse = true };
        var feed = new JournalFeed();
        rows.ForEach(r => feed.Publish(FeedRow(r)));
        await using var ledger = await Ledger.OpenAsync(Path.Combine(_dir.Path, "ledger.db"), journal, feed);

        (await ledger.Worker.CatchUpAsync(default)).Should().Be(3);

        journal.Reads.Should().Be(0);
        (await ledger.Calls.GetCursorAsync(default)).Should().Be(3);
        feed.Count.Should().Be(0);
        for (var i = 0; i < callIds.Count; i++)
        {
            var call = await ledger.Calls.GetAsync(_portal.MemberId, callIds[i], default);
            call.Should().NotBeNull();
            call!.Record.ClickToCall.Should().BeTrue();
            call.Record.MemberId.Should().Be(_portal.MemberId);
            call.Record.LastJournalId.Should().Be(i + 1);
        }

        (await ledger.Outbox.ListAsync(null, 100, default)).Should().HaveCount(3).And.OnlyContain(e => e.Kind == OutboxKinds.Originate);
        ledger.Folded.Should().Equal(("feed", 3L));

        // The next commits follow on from the new cursor, from the feed again.
        var end = Delivery(4, Bitrix24Events.CallEnd(_portal, callIds[0]));
        feed.Publish(FeedRow(end));
        (await ledger.Worker.CatchUpAsync(default)).Should().Be(1);

        journal.Reads.Should().Be(0);
        (await ledger.Calls.GetCursorAsync(default)).Should().Be(4);
        var ended = (await ledger.Calls.GetAsync(_portal.MemberId, callIds[0], default))!.Record;
        ended.EventsSeen.Items.Should().Equal("ONEXTERNALCALLSTART", "ONVOXIMPLANTCALLEND");
        ended.LastJournalId.Should().Be(4);
        ledger.Folded.Should().Equal(("feed", 3L), ("feed", 1L));
    }

    [Fact]
    public async Task The_feed_is_folded_a_batch_at_a_time()
    {
        var rows = Enumerable.Range(1, 5).Select(i => Delivery(i, Bitrix24Events.ExternalCallStart(_portal))).ToList();
        var journal = new ScriptedJournal { Refuse = true };
        var feed = new JournalFeed();
        rows.ForEach(r => feed.Publish(FeedRow(r)));
        await using var ledger = await Ledger.OpenAsync(Path.Combine(_dir.Path, "ledger.db"), journal, feed, batchSize: 2);

        (await ledger.Worker.CatchUpAsync(default)).Should().Be(5);

        journal.Reads.Should().Be(0);
        ledger.Folded.Should().Equal(("feed", 2L), ("feed", 2L), ("feed", 1L));
        (await ledger.Calls.GetCursorAsync(default)).Should().Be(5);
        (await ledger.Outbox.ListAsync(null, 100, default)).Should().HaveCount(5);
    }

    [Fact]
    public async Task A_feed_without_the_row_after_the_cursor_sends_the_ledger_to_the_journal_and_each_row_is_folded_once()
    {
        var callIds = Enumerable.Range(0, 6).Select(_ => Bitrix24Events.NewCallId()).ToList();
        var rows = callIds.Select((id, i) => Delivery(i + 1, Bitrix24Events.ExternalCallStart(_portal, id))).ToList();
        var journal = new ScriptedJournal();
        journal.Rows.AddRange(rows.Select(JournalRow));
        var feed = new JournalFeed();
        rows.Skip(1).ToList().ForEach(r => feed.Publish(FeedRow(r))); // row 1 came from another instance
        await using var ledger = await Ledger.OpenAsync(Path.Combine(_dir.Path, "ledger.db"), journal, feed);

        (await ledger.Worker.CatchUpAsync(default)).Should().Be(6);

        journal.Reads.Should().Be(1);
        (await ledger.Calls.GetCursorAsync(default)).Should().Be(6);
        ledger.Folded.Should().Equal(("journal", 6L));
        var queued = await ledger.Outbox.ListAsync(null, 100, default);
        queued.Should().HaveCount(6).And.OnlyContain(e => e.Kind == OutboxKinds.Originate);
        callIds.Should().OnlyContain(id => queued.Count(e => e.Key.Contains(id, StringComparison.Ordinal)) == 1, "one originate per click");
        var records = new List<CallRecord>();
        foreach (var id in callIds)
        {
            records.Add((await ledger.Calls.GetAsync(_portal.MemberId, id, default))!.Record);
        }

        records.Select(r => r.LastJournalId).Should().Equal(1L, 2L, 3L, 4L, 5L, 6L);

        // The feed's copies of rows 2 to 6 are behind the cursor now: dropped, not folded again.
        (await ledger.Worker.CatchUpAsync(default)).Should().Be(0);

        feed.Count.Should().Be(0);
        journal.Reads.Should().Be(2, "an empty feed sends the ledger to the journal, which has nothing new");
        ledger.Folded.Should().Equal(("journal", 6L));
        (await ledger.Calls.GetCursorAsync(default)).Should().Be(6);
        (await ledger.Outbox.ListAsync(null, 100, default)).Should().BeEquivalentTo(queued);
    }

    [Fact]
    public async Task Rows_past_a_gap_in_the_feed_are_read_from_the_journal_and_each_row_is_folded_once()
    {
        var rows = Enumerable.Range(1, 6).Select(i => Delivery(i, Bitrix24Events.ExternalCallStart(_portal))).ToList();
        var journal = new ScriptedJournal();
        journal.Rows.AddRange(rows.Select(JournalRow));
        var feed = new JournalFeed();
        rows.Where(r => r.Id != 3).ToList().ForEach(r => feed.Publish(FeedRow(r)));
        await using var ledger = await Ledger.OpenAsync(Path.Combine(_dir.Path, "ledger.db"), journal, feed);

        // One catch-up: the feed's run stops at the gap, and the journal takes it from there at once.
        (await ledger.Worker.CatchUpAsync(default)).Should().Be(6);
        ledger.Folded.Should().Equal(("feed", 2L), ("journal", 4L));
        (await ledger.Calls.GetCursorAsync(default)).Should().Be(6);
        (await ledger.Outbox.ListAsync(null, 100, default)).Should().HaveCount(6);
        (await ledger.Worker.CatchUpAsync(default)).Should().Be(0, "nothing new");
        feed.Count.Should().Be(0, "rows the journal already gave are dropped from the feed on the next pass");
    }

    [Fact]
    public async Task The_same_events_from_the_feed_and_from_the_journal_give_the_same_calls()
    {
        var clicked = Bitrix24Events.NewCallId();
        var other = Bitrix24Events.NewCallId();
        var untimed = Bitrix24Events.NewCallId();
        var rows = new[]
        {
            Delivery(1, Bitrix24Events.Install(_portal)),
            Delivery(2, Bitrix24Events.ExternalCallStart(_portal, clicked)),
            Delivery(3, Bitrix24Events.ExternalCallStart(_portal, other)),
            Delivery(4, Bitrix24Events.Body("ONVOXIMPLANTCALLSTART", new() { ["CALL_ID"] = clicked, ["USER_ID"] = "1269" }, Bitrix24Events.Auth(_portal))),
            Delivery(5, Bitrix24Events.Body("ONVOXIMPLANTCALLSTART", new() { ["CALL_ID"] = "externalCall.unknown.1773236988", ["USER_ID"] = "7" }, Bitrix24Events.Auth(_portal))),
            Delivery(6, Bitrix24Events.CallEnd(_portal, clicked)),
            Delivery(7, WithoutTs(Bitrix24Events.ExternalCallStart(_portal, untimed))), // requested at: when received
        };

        var feed = new JournalFeed();
        foreach (var r in rows)
        {
            feed.Publish(FeedRow(r));
        }

        var journal = new ScriptedJournal();
        journal.Rows.AddRange(rows.Select(JournalRow));
        var refusing = new ScriptedJournal { Refuse = true };
        await using var viaFeed = await Ledger.OpenAsync(Path.Combine(_dir.Path, "feed.db"), refusing, feed);
        await using var viaJournal = await Ledger.OpenAsync(Path.Combine(_dir.Path, "journal.db"), journal, new JournalFeed());

        (await viaFeed.Worker.CatchUpAsync(default)).Should().Be(7);
        (await viaJournal.Worker.CatchUpAsync(default)).Should().Be(7);

        viaFeed.Folded.Should().Equal(("feed", 7L));
        viaJournal.Folded.Should().Equal(("journal", 7L));
        foreach (var id in new[] { clicked, other, untimed, "externalCall.unknown.1773236988" })
        {
            var a = await viaFeed.Calls.GetAsync(_portal.MemberId, id, default);
            var b = await viaJournal.Calls.GetAsync(_portal.MemberId, id, default);
            a.Should().NotBeNull();
            b.Should().NotBeNull();
            a!.Record.Should().Be(b!.Record, $"call {id} must not depend on where its events were read");
        }

        var finished = (await viaFeed.Calls.GetAsync(_portal.MemberId, clicked, default))!.Record;
        finished.Bitrix24Outcome.Should().Be(new CallOutcome(CallStatusCode.Success, TimeSpan.FromSeconds(42)), "the records compared are not empty ones");
        finished.EventsSeen.Items.Should().Equal("ONEXTERNALCALLSTART", "ONVOXIMPLANTCALLEND", "ONVOXIMPLANTCALLSTART");
        (await viaFeed.Calls.GetAsync(_portal.MemberId, untimed, default))!.Record.RequestedAt
            .Should().Be(DateTimeOffset.FromUnixTimeMilliseconds(rows[^1].ReceivedAt.ToUnixTimeMilliseconds()), "without ts a click is dated by its receipt, to the millisecond");

        static IEnumerable<(string, string, string, string)> Commands(IEnumerable<OutboxEntry> list) =>
            list.Select(e => (e.Kind, e.Key, e.MemberId, e.Payload)).OrderBy(c => c.Key, StringComparer.Ordinal);
        var fromFeed = Commands(await viaFeed.Outbox.ListAsync(null, 100, default)).ToList();
        fromFeed.Should().Equal(Commands(await viaJournal.Outbox.ListAsync(null, 100, default)));
        fromFeed.Select(c => c.Item1).Should().Contain([OutboxKinds.PortalSetup, OutboxKinds.Originate]);
    }

    private sealed record Received(long Id, DateTimeOffset ReceivedAt, string Body);

    private static Received Delivery(long id, string body) => new(id, T0.AddSeconds(id), body);

    private static string WithoutTs(string body) =>
        string.Join('&', body.Split('&').Where(pair => !pair.StartsWith("ts=", StringComparison.Ordinal)));

    /// <summary>As the journal writer hands a committed row over.</summary>
    private JournalEvent FeedRow(Received r) => JournalFeed.AsStored(r.Id, r.ReceivedAt, _portal.MemberId, ParsedEvents.Read(r.Body));

    /// <summary>As the journal keeps the row: tokens removed from the body, time to the millisecond.</summary>
    private JournalEntry JournalRow(Received r)
    {
        var ev = ParsedEvents.Read(r.Body);
        return new JournalEntry(
            r.Id, DateTimeOffset.FromUnixTimeMilliseconds(r.ReceivedAt.ToUnixTimeMilliseconds()), _portal.MemberId, ev.Name, ev.CallId, ev.HandlerId, ev.SentAt,
            FormType, Encoding.UTF8.GetString(JournalBody.RedactForm(Encoding.UTF8.GetBytes(r.Body)).Span), $"dedup:{r.Id}");
    }

    /// <summary>A ledger on its own SQLite file with a worker that is never started: passes are run by the test.</summary>
    private sealed class Ledger : IAsyncDisposable
    {
        private readonly ServiceProvider _services;
        private readonly SwitchboardMetrics _metrics;
        private readonly WorkSignal _committed = new();
        private readonly WorkSignal _enqueued = new();
        private readonly MeterListener _listener = new();
        private readonly ConcurrentQueue<(string Source, long Rows)> _folded = new();

        private Ledger(SqliteOutboxStore outbox, SqliteCallStore calls, IJournalStore journal, JournalFeed feed, int batchSize)
        {
            Outbox = outbox;
            Calls = calls;
            _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
            var meters = _services.GetRequiredService<IMeterFactory>();
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (ReferenceEquals(instrument.Meter.Scope, meters) && instrument.Name == "switchboard.ledger.events")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag.Key == "source")
                    {
                        _folded.Enqueue(((string)tag.Value!, value));
                    }
                }
            });
            _listener.Start();
            _metrics = new SwitchboardMetrics(meters);
            Worker = new LedgerWorker(
                calls, journal, feed, Options.Create(new LedgerOptions { PassInterval = TimeSpan.Zero, BatchSize = batchSize }),
                new StoresReady(), _committed, _enqueued, _metrics, TimeProvider.System,
                new StoreClock(Outbox, TimeProvider.System, NullLogger<StoreClock>.Instance), NullLogger<LedgerWorker>.Instance);
        }

        public SqliteOutboxStore Outbox { get; }

        public SqliteCallStore Calls { get; }

        public LedgerWorker Worker { get; }

        /// <summary>The ledger's metric as recorded: one (source, rows) per pass.</summary>
        public IReadOnlyList<(string Source, long Rows)> Folded => [.. _folded];

        public static async Task<Ledger> OpenAsync(string path, IJournalStore journal, JournalFeed feed, int batchSize = 1000)
        {
            var outbox = new SqliteOutboxStore(path);
            await outbox.InitializeAsync(default);
            var calls = new SqliteCallStore(outbox);
            await calls.InitializeAsync(default);
            return new Ledger(outbox, calls, journal, feed, batchSize);
        }

        public async ValueTask DisposeAsync()
        {
            Worker.Dispose();
            _listener.Dispose();
            _metrics.Dispose();
            _committed.Dispose();
            _enqueued.Dispose();
            await _services.DisposeAsync();
            await Calls.DisposeAsync();
            await Outbox.DisposeAsync();
        }
    }

    /// <summary>A journal that answers ReadAfterAsync from a list and counts the calls; nothing else is used.</summary>
    private sealed class ScriptedJournal : IJournalStore
    {
        public List<JournalEntry> Rows { get; } = [];

        /// <summary>True: the ledger must not read the journal at all.</summary>
        public bool Refuse { get; init; }

        public int Reads { get; private set; }

        public string Kind => "scripted";

        public Task<IReadOnlyList<JournalEntry>> ReadAfterAsync(long afterId, int limit, CancellationToken cancellationToken)
        {
            if (Refuse)
            {
                throw new InvalidOperationException("The ledger read the journal although the feed had the rows.");
            }

            Reads++;
            return Task.FromResult<IReadOnlyList<JournalEntry>>([.. Rows.Where(r => r.Id > afterId).OrderBy(r => r.Id).Take(limit)]);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;

        public Task InitializeAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<AppendResult>> AppendAsync(IReadOnlyList<JournalAppend> batch, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<JournalEntry>> ListEventsAsync(JournalQuery query, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<JournalEntry?> GetEventAsync(long id, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<long> CountEventsAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<Portal?> FindPortalAsync(string memberId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<Portal>> ListPortalsAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<PortalTokens?> GetPortalTokensAsync(string memberId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<StoredCredentials?> GetPortalCredentialsAsync(string memberId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task SavePortalTokensAsync(string memberId, string accessToken, string refreshToken, DateTimeOffset? expiresAt, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task SetPortalEndpointAsync(string memberId, string clientEndpoint, string domain, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task MarkPortalNeedsReauthAsync(string memberId, string reason, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task RecordSetupStepAsync(SetupStepRecord record, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<SetupStepRecord>> GetSetupStepsAsync(string memberId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task ReplacePortalUsersAsync(string memberId, IReadOnlyList<PortalUserRecord> users, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<PortalUserRecord>> GetPortalUsersAsync(string memberId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task SetInstallRefusedAsync(string memberId, string? reason, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task CheckWritableAsync(CancellationToken cancellationToken) => throw new NotSupportedException();
    }
}
