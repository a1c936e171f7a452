using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Switchboard.Hosting;
using Switchboard.Journal;
using Switchboard.Journal.Sqlite;

namespace Switchboard.Tests.Journal;

/// <summary>The group-commit writer on its own thread: everything queued is committed, also across a stop.</summary>
public sealed class JournalWriterTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "sb-writer-" + Guid.NewGuid().ToString("N"));
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly WorkSignal _committed = new();
    private SqliteJournalStore _store = null!;
    private JournalWriter _writer = null!;

    public async Task InitializeAsync()
    {
        _store = new SqliteJournalStore(Path.Combine(_dir, "switchboard.db"));
        await _store.InitializeAsync(default);
        _writer = NewWriter(new JournalOptions { MaxBatch = 16 });
        await _writer.StartAsync(default);
    }

    public async Task DisposeAsync()
    {
        _writer.Dispose();
        await _store.DisposeAsync();
        _committed.Dispose();
        await _services.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private JournalWriter NewWriter(JournalOptions options) => new(_store, Options.Create(options),
        new SwitchboardMetrics(_services.GetRequiredService<IMeterFactory>()), new JournalFeed(), _committed, NullLogger<JournalWriter>.Instance);

    private static JournalAppend Event(int i) =>
        new(T0, "m1", "ONEXTERNALCALLSTART", $"call-{i}", 1055, T0, "application/x-www-form-urlencoded", System.Text.Encoding.UTF8.GetBytes($"event=ONEXTERNALCALLSTART&data%5BCALL_ID%5D=call-{i}"), $"key-{i:D6}", PortalGuard.None);

    [Fact]
    public async Task Events_queued_from_many_requests_at_once_are_each_committed_once_in_batches()
    {
        var results = await Task.WhenAll(Enumerable.Range(0, 500).Select(i => Task.Run(() => _writer.AppendAsync(Event(i), default))))
            .WaitAsync(TimeSpan.FromSeconds(30));

        results.Should().OnlyContain(r => r.Status == AppendStatus.Stored);
        results.Select(r => r.Id).Distinct().Should().HaveCount(500);
        (await _store.ReadAfterAsync(0, 1000, default)).Should().HaveCount(500);
    }

    [Fact]
    public async Task A_stop_while_events_are_queued_commits_every_one_of_them_and_later_appends_are_refused()
    {
        var pending = Enumerable.Range(0, 300).Select(i => _writer.AppendAsync(Event(i), default)).ToList();

        await _writer.StopAsync(default).WaitAsync(TimeSpan.FromSeconds(30));

        var results = await Task.WhenAll(pending).WaitAsync(TimeSpan.FromSeconds(5));
        results.Should().OnlyContain(r => r.Status == AppendStatus.Stored);
        (await _store.ReadAfterAsync(0, 1000, default)).Should().HaveCount(300);
        var late = () => _writer.AppendAsync(Event(1000), default);
        await late.Should().ThrowAsync<JournalUnavailableException>();
    }
    [Fact]
    public async Task Events_queued_while_the_pool_is_busy_are_committed_when_the_host_stops_at_once()
    {
        // As a BackgroundService the loop started from a Task.Run, which StopAsync cancelled, never run,
        // when the pool had not got to it yet: the queued events then waited forever (seen once in CI).
        var writer = NewWriter(new JournalOptions());
        using var gate = new ManualResetEventSlim();
        var blockers = Enumerable.Range(0, Environment.ProcessorCount * 4).Select(_ => Task.Run(() => gate.Wait())).ToArray();
        try
        {
            await writer.StartAsync(default);
            var pending = Enumerable.Range(2000, 50).Select(i => writer.AppendAsync(Event(i), default)).ToList();
            var stopping = writer.StopAsync(default);
            gate.Set();

            await stopping.WaitAsync(TimeSpan.FromSeconds(30));
            (await Task.WhenAll(pending).WaitAsync(TimeSpan.FromSeconds(10))).Should().OnlyContain(r => r.Status == AppendStatus.Stored);
        }
        finally
        {
            gate.Set();
            await Task.WhenAll(blockers);
            writer.Dispose();
        }
    }
}
