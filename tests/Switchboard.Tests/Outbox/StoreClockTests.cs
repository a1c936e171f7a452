using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Switchboard.Hosting;
using Switchboard.Outbox;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Outbox;

/// <summary>
/// Several instances on several machines share one PostgreSQL outbox, each with its own clock. Leases
/// and due times are compared across instances, so they are stamped and compared on the database's
/// clock (<see cref="StoreClock"/>): an instance whose clock runs ahead must not see another
/// instance's live lease as run out and send the same command a second time.
/// </summary>
public sealed class StoreClockTests : IAsyncLifetime
{
    private const string Kind = "test.send";
    private static readonly TimeSpan Skew = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);

    private readonly PostgresDatabase _db = new();
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private PostgresOutboxStore _store = null!;

    public async Task InitializeAsync()
    {
        await _db.InitializeAsync();
        _store = new PostgresOutboxStore(_db.ConnectionString);
        await _store.InitializeAsync(default);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        await _services.DisposeAsync();
        await _db.DisposeAsync();
    }

    [Fact]
    public async Task An_instance_whose_clock_runs_ten_minutes_ahead_leaves_a_command_another_instance_holds_under_a_live_lease()
    {
        await _store.EnqueueAsync([Item("probe"), Item("held")], default);
        await using var other = new PostgresOutboxStore(_db.ConnectionString);
        (await other.ClaimAsync("other-instance", 10, Lease, DateTimeOffset.UtcNow, default, [Kind])).Should().HaveCount(2);

        // The hazard: by a clock ten minutes ahead, the other instance's five-minute lease has run out.
        (await _store.ClaimAsync("ahead-by-its-own-clock", 1, Lease, DateTimeOffset.UtcNow + Skew, default, [Kind]))
            .Select(e => e.Key).Should().Equal("probe");

        var handler = new RecordingHandler();
        var logs = new CapturingLoggerProvider();
        var ahead = new SkewedTime(Skew);
        var clock = new StoreClock(_store, ahead, new LoggerFactory([logs]).CreateLogger<StoreClock>());
        var worker = Worker(handler, ahead, clock);

        (await worker.PassAsync(default)).Should().Be(0, "by the database's clock the lease has minutes to run");

        handler.Executed.Should().BeEmpty();
        clock.Offset.Should().BeCloseTo(-Skew, TimeSpan.FromSeconds(5));
        logs.Lines.Should().ContainSingle(l => l.Contains("[4020]", StringComparison.Ordinal) && l.StartsWith("Warning", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_instance_whose_clock_runs_ahead_stamps_its_lease_on_the_databases_clock()
    {
        await _store.EnqueueAsync([Item("one")], default);
        var handler = new RecordingHandler();
        var ahead = new SkewedTime(Skew);
        var worker = Worker(handler, ahead, new StoreClock(_store, ahead, NullLogger<StoreClock>.Instance));

        (await worker.PassAsync(default)).Should().Be(1);

        // Stamped by its own clock, the lease would end fifteen minutes from now, and another instance
        // could not take the command back for ten minutes after this one died.
        handler.Executed.Single().LeaseUntil.Should().BeCloseTo(DateTimeOffset.UtcNow + Lease, TimeSpan.FromSeconds(5));
        (await _store.ListAsync(OutboxStatus.Done, 10, default)).Select(e => e.Key).Should().Equal("one");
    }

    [Fact]
    public async Task On_SQLite_the_store_clock_is_this_processs_own()
    {
        using var dir = new TempDirectory();
        await using var sqlite = new SqliteOutboxStore(Path.Combine(dir.Path, "ledger.db"));
        await sqlite.InitializeAsync(default);
        var manual = new ManualTime(new DateTimeOffset(2031, 1, 2, 3, 4, 5, TimeSpan.Zero));
        var clock = new StoreClock(sqlite, manual, NullLogger<StoreClock>.Instance);

        (await sqlite.ReadClockAsync(manual, default)).Should().BeNull();
        (await clock.NowAsync(default)).Should().Be(manual.GetUtcNow());
        clock.Offset.Should().Be(TimeSpan.Zero);
    }

    [Fact]
    public async Task PostgreSQLs_clock_is_read_as_UTC_between_two_reads_of_this_processs()
    {
        var reading = await _store.ReadClockAsync(TimeProvider.System, default);

        // Same machine, same clock: the server's time falls between the two reads (give or take a little).
        reading.Should().NotBeNull();
        reading!.Database.Offset.Should().Be(TimeSpan.Zero);
        reading.Database.Should().BeOnOrAfter(reading.Before - TimeSpan.FromMilliseconds(100)).And.BeOnOrBefore(reading.After + TimeSpan.FromMilliseconds(100));
        (reading.After - reading.Before).Should().BeLessThan(TimeSpan.FromSeconds(1), "the connection is opened before the first read");
    }

    [Fact]
    public async Task Callers_that_meet_the_first_reading_in_progress_wait_for_it_instead_of_using_their_own_clock()
    {
        var ahead = new SkewedTime(Skew);
        var clock = new StoreClock(_store, ahead, NullLogger<StoreClock>.Instance);

        // The outbox worker and the ledger start together and both ask at once.
        var times = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => clock.NowAsync(default)));

        times.Should().OnlyContain(t => (t - DateTimeOffset.UtcNow).Duration() < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Until_a_precise_reading_is_taken_the_clock_refuses_and_then_uses_the_reading()
    {
        // Every read of this clock moves it on by 2 s: each reading's round trip looks like 2 s.
        var jumpy = new JumpyTime(TimeSpan.FromSeconds(2));
        var clock = new StoreClock(_store, jumpy, NullLogger<StoreClock>.Instance);

        var refused = () => clock.NowAsync(default);

        await refused.Should().ThrowAsync<TimeoutException>();
        await refused.Should().ThrowAsync<TimeoutException>("a discarded reading is not stamped: the next call reads again");
        clock.Measured.Should().BeFalse();

        jumpy.Step = TimeSpan.Zero;
        await clock.NowAsync(default);
        clock.Measured.Should().BeTrue();
    }

    [Fact]
    public async Task With_the_database_gone_after_a_reading_the_last_offset_is_kept()
    {
        var direct = new Npgsql.NpgsqlConnectionStringBuilder(_db.ConnectionString);
        using var forwarder = new TcpForwarder(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, direct.Port));
        await using var viaForwarder = new PostgresOutboxStore(new Npgsql.NpgsqlConnectionStringBuilder(_db.ConnectionString)
        {
            Host = "127.0.0.1", Port = forwarder.Port, Timeout = 2, CommandTimeout = 2, Pooling = false,
        }.ConnectionString);
        var time = new ManualTime(DateTimeOffset.UtcNow + Skew);
        var logs = new CapturingLoggerProvider();
        var clock = new StoreClock(viaForwarder, time, new LoggerFactory([logs]).CreateLogger<StoreClock>());
        await clock.NowAsync(default);
        var offset = clock.Offset;
        offset.Should().BeCloseTo(-Skew, TimeSpan.FromSeconds(5));
        int FailedReadings() => logs.Lines.Count(l => l.Contains("[4023]", StringComparison.Ordinal));

        forwarder.Stop();
        time.Advance(StoreClock.RefreshInterval + TimeSpan.FromSeconds(1));

        (await clock.NowAsync(default)).Should().Be(time.GetUtcNow() + offset);
        clock.Offset.Should().Be(offset);
        FailedReadings().Should().Be(1, "the offset was due for a reading, and the reading failed");

        // A database that is gone is not asked again at every call: the workers ask at every pass.
        time.Advance(StoreClock.RetryAfterFailure - TimeSpan.FromSeconds(1));
        (await clock.NowAsync(default)).Should().Be(time.GetUtcNow() + offset);
        FailedReadings().Should().Be(1);

        time.Advance(TimeSpan.FromSeconds(2));
        await clock.NowAsync(default);
        FailedReadings().Should().Be(2, "after RetryAfterFailure it is read again");

        forwarder.Start();
        time.Advance(StoreClock.RetryAfterFailure + TimeSpan.FromSeconds(1));
        await clock.NowAsync(default);
        FailedReadings().Should().Be(2);
        clock.Offset.Should().BeCloseTo(-Skew - StoreClock.RefreshInterval - (StoreClock.RetryAfterFailure * 2) - TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(5), "the manual clock moved on while the database's did not");
    }

    private OutboxWorker Worker(RecordingHandler handler, TimeProvider time, StoreClock clock) => new(
        _store,
        [handler],
        Options.Create(new OutboxOptions { Lease = Lease, WorkerId = "skewed-instance" }),
        new StoresReady(),
        new WorkSignal(),
        new SwitchboardMetrics(_services.GetRequiredService<IMeterFactory>()),
        time,
        clock,
        NullLogger<OutboxWorker>.Instance);

    private static OutboxItem Item(string key) => new(Kind, key, "m1", "{}", DateTimeOffset.UtcNow);

    private sealed class SkewedTime(TimeSpan skew) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + skew;
    }

    // The real time plus Step more at every read.
    private sealed class JumpyTime(TimeSpan step) : TimeProvider
    {
        private long _reads;

        public TimeSpan Step { get; set; } = step;

        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + (Step * Interlocked.Increment(ref _reads));
    }

    private sealed class RecordingHandler : IOutboxHandler
    {
        private readonly List<OutboxEntry> _executed = [];

        public IReadOnlyCollection<string> Kinds => [Kind];

        public IReadOnlyList<OutboxEntry> Executed => _executed;

        public Task<IReadOnlyDictionary<long, CommandOutcome>> ExecuteAsync(string memberId, IReadOnlyList<OutboxEntry> entries, CancellationToken cancellationToken)
        {
            _executed.AddRange(entries);
            return Task.FromResult<IReadOnlyDictionary<long, CommandOutcome>>(entries.ToDictionary(e => e.Id, _ => (CommandOutcome)new CommandOutcome.Done()));
        }
    }
}
