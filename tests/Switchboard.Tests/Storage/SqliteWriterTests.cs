using Microsoft.Data.Sqlite;
using Switchboard.Storage;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Storage;

/// <summary>
/// <see cref="SqliteWriter"/>'s unflushed writes: a transaction written with <c>flush: false</c> runs
/// under <c>synchronous=NORMAL</c>, and the connection is at <c>FULL</c> again for the next one, whether
/// the unflushed one committed or failed.
/// </summary>
public sealed class SqliteWriterTests : IAsyncDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly SqliteWriter _writer;

    public SqliteWriterTests()
    {
        var path = Path.Combine(_dir.Path, "w.db");
        var connectionString = SqliteFiles.ConnectionString(path, TimeSpan.FromSeconds(5));
        SqliteFiles.PrepareAsync(path, connectionString, TimeSpan.FromSeconds(5), default).GetAwaiter().GetResult();
        _writer = new SqliteWriter(connectionString, "PRAGMA synchronous = FULL;");
    }

    public async ValueTask DisposeAsync()
    {
        await _writer.DisposeAsync();
        _dir.Dispose();
    }

    [Fact]
    public async Task An_unflushed_write_runs_with_synchronous_normal_and_the_next_write_with_full()
    {
        (await SynchronousAsync(flush: true)).Should().Be(2, "FULL is 2 (sqlite.org/pragma.html#pragma_synchronous)");
        (await SynchronousAsync(flush: false)).Should().Be(1, "NORMAL is 1");
        (await SynchronousAsync(flush: true)).Should().Be(2);
        _writer.UnflushedCommits.Should().Be(1);
    }

    [Fact]
    public async Task A_failed_unflushed_write_leaves_the_next_write_at_full()
    {
        var failing = () => _writer.WriteAsync<int>((_, _, _) => throw new InvalidOperationException("the work failed"), default, flush: false);
        await failing.Should().ThrowAsync<InvalidOperationException>();

        (await SynchronousAsync(flush: true)).Should().Be(2);
        _writer.UnflushedCommits.Should().Be(0, "nothing was committed");
    }

    [Fact]
    public async Task An_unflushed_write_is_committed_and_seen_by_a_reader()
    {
        await _writer.WriteAsync(async (c, tx, ct) =>
        {
            await using var cmd = c.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (42)";
            return await cmd.ExecuteNonQueryAsync(ct);
        }, default, flush: false);

        await using var reader = new SqliteConnection($"Data Source={Path.Combine(_dir.Path, "w.db")}");
        await reader.OpenAsync();
        await using var read = reader.CreateCommand();
        read.CommandText = "SELECT v FROM t";
        (await read.ExecuteScalarAsync()).Should().Be(42L);
    }

    private Task<long> SynchronousAsync(bool flush) => _writer.WriteAsync(async (c, tx, ct) =>
    {
        await using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "PRAGMA synchronous";
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }, default, flush: flush);
}
