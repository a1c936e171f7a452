using System.Data.Common;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using SQLitePCL;
using Switchboard.Outbox;
using Switchboard.Storage;

namespace Switchboard.Calls;

/// <summary>
/// The ledger in the outbox's SQLite file (<c>ledger.db</c>), on the outbox's one write connection: a
/// record, its commands and the cursor move commit together, and the ledger and the outbox worker take
/// turns at that connection in this process. The journal is another file, so none of this ever waits
/// for (or holds up) an event being acknowledged.
/// </summary>
public sealed class SqliteCallStore(SqliteOutboxStore outbox) : SqlCallStore(outbox)
{
    /// <inheritdoc/>
    protected override string CallsTableExistsSql => "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'calls'";

    /// <inheritdoc/>
    protected override string LoadRecordsSql => "SELECT member_id, call_id, record FROM calls WHERE call_key IN (SELECT value FROM json_each(@keys))";

    /// <inheritdoc/>
    protected override object KeysParameter(string[] keys) => JsonSerializer.Serialize(keys);

    /// <summary>
    /// One prepared upsert stepped per record and bound by position through SQLite's own API, the
    /// record's JSON bound as the UTF-8 it is serialised to: per record, the provider's by-name binding
    /// and the UTF-16 round trip of the JSON cost more than SQLite's own work.
    /// </summary>
    protected override Task SaveRecordsAsync(DbConnection connection, DbTransaction tx, IEnumerable<(string MemberId, CallRecord Record)> rows, DateTimeOffset now, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(rows);
        var db = ((SqliteConnection)connection).Handle!;
        SqliteRaw.Check(db, raw.sqlite3_prepare_v2(db, UpsertSql, out var stmt));
        var json = new System.Buffers.ArrayBufferWriter<byte>(1024);
        using var writer = new Utf8JsonWriter(json, CallJson.WriterOptions);
        using (stmt)
        {
            var updated = now.ToUnixTimeMilliseconds();
            foreach (var (memberId, record) in rows)
            {
                // @call_key, @member_id, @call_id, @record, @requested_at, @ended_at, @updated_at: numbered 1 to 7 in order of appearance.
                SqliteRaw.BindText(db, stmt, 1, CallKey.Of(record.CallId));
                SqliteRaw.BindText(db, stmt, 2, memberId);
                SqliteRaw.BindText(db, stmt, 3, record.CallId);
                json.ResetWrittenCount();
                writer.Reset();
                CallJson.WriteRecord(writer, record);
                writer.Flush();
                SqliteRaw.BindUtf8(db, stmt, 4, json.WrittenSpan);
                SqliteRaw.BindInt64(db, stmt, 5, record.RequestedAt?.ToUnixTimeMilliseconds());
                SqliteRaw.BindInt64(db, stmt, 6, record.EndedAt?.ToUnixTimeMilliseconds());
                SqliteRaw.BindInt64(db, stmt, 7, updated);
                SqliteRaw.Step(db, stmt);
            }
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    protected override async ValueTask<DbConnection> OpenReadConnectionAsync(CancellationToken cancellationToken) =>
        await SqliteFiles.OpenAsync(outbox.ConnectionString, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc/>
    protected override Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, CancellationToken, Task<T>> work, CancellationToken cancellationToken) =>
        outbox.Writer.WriteAsync((connection, tx, ct) => work(connection, tx, ct), cancellationToken);

    /// <inheritdoc/>
    /// <remarks>The write connection belongs to the outbox store, which disposes it.</remarks>
    public override ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
