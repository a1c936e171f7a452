using System.Data.Common;
using Microsoft.Data.Sqlite;
using SQLitePCL;
using Switchboard.Storage;

namespace Switchboard.Outbox;

/// <summary>
/// The outbox in a SQLite file (it may be the journal's file: the table is its own). WAL so
/// <c>switchboard outbox list</c> never blocks the writer; <c>synchronous=FULL</c> on the writer so a
/// completed item stays completed after a power loss (otherwise the command could be sent twice).
/// </summary>
/// <remarks>
/// One long-lived write connection behind a lock per store object: SQLite has one writer anyway.
/// Write transactions are <c>BEGIN IMMEDIATE</c> (Microsoft.Data.Sqlite's default for
/// <c>BeginTransaction()</c>), so the claim's SELECT and UPDATE run with the write lock already held:
/// another store object or process on the same file waits at BEGIN (<c>busy_timeout</c>) and then
/// sees the rows this claim took. That is what makes the claim exclusive without row locks.
/// </remarks>
public sealed class SqliteOutboxStore : SqlOutboxStore
{
    private readonly string _connectionString;
    private readonly TimeSpan _busyTimeout;
    private readonly SqliteWriter _writer;

    /// <summary>Opens (and creates, if missing) the database file.</summary>
    /// <param name="path">The database file.</param>
    /// <param name="busyTimeout">How long a write waits for a lock held by another connection or process before failing.</param>
    public SqliteOutboxStore(string path, TimeSpan? busyTimeout = null)
    {
        Path = System.IO.Path.GetFullPath(path);
        _busyTimeout = busyTimeout ?? TimeSpan.FromSeconds(5);
        _connectionString = SqliteFiles.ConnectionString(Path, _busyTimeout);

        // synchronous is per connection: FULL fsyncs the WAL at every commit. A 64 MiB page cache and
        // memory-mapped reads keep the ledger's index pages in memory between passes (one run: 65 to
        // 60 µs of CPU per folded event). The journal found a large cache slower because SQLite walks
        // the cache at every commit; the journal commits a thousand times a second, the ledger twenty.
        _writer = new SqliteWriter(_connectionString, $"PRAGMA synchronous = FULL; PRAGMA busy_timeout = {(int)_busyTimeout.TotalMilliseconds}; PRAGMA cache_size = -65536; PRAGMA mmap_size = 268435456;");
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    /// <summary>
    /// The page size of a <c>ledger.db</c> created by this version: 16 KiB, not SQLite's 4 KiB. A ledger
    /// pass writes hundreds of pages at once, and SQLite writes the WAL a frame (a page and its header)
    /// per system call, checksums each, and keeps each in its cache: per folded event,
    /// <c>switchboard-bench fold</c> measured 27–32 µs of CPU with 4 KiB pages and 23–25 µs with 16 KiB.
    /// Part of that is the WAL: SQLite's automatic checkpoint counts 1,000 pages, so it now runs every
    /// 16 MiB instead of every 4 MiB (with 16 KiB pages checkpointing every 4 MiB: 26–27.5 µs).
    /// docs/BENCHMARKS.md, "Sixth session". A file created before keeps its pages (a WAL-mode file cannot
    /// change its page size without a VACUUM out of WAL mode).
    /// </summary>
    internal const int PageSize = 16384;

    /// <summary>The file's one write connection, shared with the ledger on the same file so that their
    /// transactions queue in this process instead of meeting at SQLite's busy handler (which sleeps).</summary>
    internal SqliteWriter Writer => _writer;

    /// <summary>The connection string of the file (for readers on it).</summary>
    internal string ConnectionString => _connectionString;

    /// <inheritdoc/>
    protected override string IdColumnDefinition => "INTEGER PRIMARY KEY";

    /// <inheritdoc/>
    protected override IReadOnlyList<string> SchemaStatements => SharedSchema;

    /// <inheritdoc/>
    // INDEXED BY makes a plan that cannot use the index an error at prepare time instead of a silent walk.
    protected override string IndexHint(string index) => " INDEXED BY " + index;

    private static readonly string[] InsertParameters = ["@kind", "@key", "@member_id", "@payload", "@created_at", "@next_attempt_at"];
    private static bool _insertChecked;

    /// <inheritdoc/>
    /// <remarks>
    /// Through SQLite's own API, bound by position, like the ledger's upserts: the provider's by-name
    /// binding was a tenth of the ledger's CPU per folded event (<c>switchboard-bench fold</c>).
    /// </remarks>
    protected override Task<int> InsertAsync(DbConnection connection, DbTransaction tx, IReadOnlyList<OutboxItem> items, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(items);
        if (items.Count == 0)
        {
            return Task.FromResult(0);
        }

        var db = ((SqliteConnection)connection).Handle!;
        SqliteRaw.Check(db, raw.sqlite3_prepare_v2(db, InsertSql, out var stmt));
        using (stmt)
        {
            // Bound by position: the shared statement's parameters must be these, in this order.
            if (!_insertChecked)
            {
                var count = raw.sqlite3_bind_parameter_count(stmt);
                for (var i = 0; i < Math.Max(count, InsertParameters.Length); i++)
                {
                    var name = i < count ? raw.sqlite3_bind_parameter_name(stmt, i + 1).utf8_to_string() : null;
                    if (i >= InsertParameters.Length || name != InsertParameters[i])
                    {
                        throw new InvalidOperationException($"The outbox INSERT's parameters are no longer {string.Join(", ", InsertParameters)}; update SqliteOutboxStore.InsertAsync.");
                    }
                }

                _insertChecked = true;
            }

            var added = 0;
            foreach (var item in items)
            {
                ArgumentNullException.ThrowIfNull(item);
                ct.ThrowIfCancellationRequested();
                SqliteRaw.BindText(db, stmt, 1, item.Kind);
                SqliteRaw.BindText(db, stmt, 2, item.Key);
                SqliteRaw.BindText(db, stmt, 3, item.MemberId);
                SqliteRaw.BindText(db, stmt, 4, item.Payload);
                SqliteRaw.BindInt64(db, stmt, 5, item.CreatedAt.ToUnixTimeMilliseconds());
                SqliteRaw.BindInt64(db, stmt, 6, (item.NotBefore ?? item.CreatedAt).ToUnixTimeMilliseconds());
                SqliteRaw.Step(db, stmt);
                added += raw.sqlite3_changes(db);
            }

            return Task.FromResult(added);
        }
    }

    /// <inheritdoc/>
    public override async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await SqliteFiles.PrepareAsync(Path, _connectionString, _busyTimeout, cancellationToken, PageSize).ConfigureAwait(false);
        await base.InitializeAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    protected override async ValueTask<DbConnection> OpenReadConnectionAsync(CancellationToken cancellationToken) =>
        await SqliteFiles.OpenAsync(_connectionString, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc/>
    protected override Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, CancellationToken, Task<T>> work, CancellationToken cancellationToken) =>
        _writer.WriteAsync((connection, tx, ct) => work(connection, tx, ct), cancellationToken);

    /// <inheritdoc/>
    public override ValueTask DisposeAsync() => _writer.DisposeAsync();
}
