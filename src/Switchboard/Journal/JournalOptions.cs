namespace Switchboard.Journal;

/// <summary>Where the journal lives. SQLite in <see cref="DataDirectory"/> unless a PostgreSQL connection string is set.</summary>
public sealed class JournalOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Switchboard:Store";

    /// <summary>Folder for the SQLite file (<c>switchboard.db</c>); relative paths are from the working directory.</summary>
    public string DataDirectory { get; set; } = "data";

    /// <summary>When set, PostgreSQL is used instead of SQLite (Npgsql connection string).</summary>
    public string? PostgresConnectionString { get; set; }

    /// <summary>
    /// The folder of the key ring that encrypts portal tokens at rest (ASP.NET Core Data Protection);
    /// empty: <c>keys</c> in <see cref="DataDirectory"/>. Every instance on one PostgreSQL database must
    /// use the same key ring (a shared folder), or each reads only the tokens it wrote itself.
    /// </summary>
    public string? KeyRingDirectory { get; set; }

    /// <summary>The key ring's folder, in full.</summary>
    public string KeyRingPath => Path.GetFullPath(string.IsNullOrWhiteSpace(KeyRingDirectory) ? Path.Combine(DataDirectory, "keys") : KeyRingDirectory);

    /// <summary>How long a SQLite write waits for a lock held by another process before the store counts as unavailable.</summary>
    public int BusyTimeoutSeconds { get; set; } = 5;

    /// <summary>Most events committed in one transaction by the journal writer.</summary>
    public int MaxBatch { get; set; } = 256;

    /// <summary>Events waiting for the writer before new requests wait for room (back-pressure, not loss).</summary>
    public int QueueCapacity { get; set; } = 4096;

    /// <summary>True when PostgreSQL is configured.</summary>
    public bool UsesPostgres => !string.IsNullOrWhiteSpace(PostgresConnectionString);

    /// <summary>The SQLite file of the journal and the portals.</summary>
    public string SqlitePath => Path.GetFullPath(Path.Combine(DataDirectory, "switchboard.db"));

    /// <summary>
    /// The SQLite file of the call ledger and the outbox. A file of its own: SQLite has one writer per
    /// file, and the ledger's and outbox's writes must never make an event's acknowledgement wait.
    /// </summary>
    public string LedgerPath => Path.GetFullPath(Path.Combine(DataDirectory, "ledger.db"));

    /// <summary>Opens the configured store (not yet initialised), encrypting tokens with <paramref name="tokens"/>.</summary>
    public IJournalStore CreateStore(Storage.TokenProtector? tokens = null) => UsesPostgres
        ? new Postgres.PostgresJournalStore(PostgresConnectionString!) { Tokens = tokens }
        : new Sqlite.SqliteJournalStore(SqlitePath, TimeSpan.FromSeconds(BusyTimeoutSeconds)) { Tokens = tokens };

    /// <summary>Opens the outbox: PostgreSQL's database, or SQLite's <see cref="LedgerPath"/> (not yet initialised).</summary>
    public Outbox.SqlOutboxStore CreateOutboxStore() => UsesPostgres
        ? new Outbox.PostgresOutboxStore(PostgresConnectionString!)
        : new Outbox.SqliteOutboxStore(LedgerPath, TimeSpan.FromSeconds(BusyTimeoutSeconds));

    /// <summary>Opens the call ledger beside <paramref name="outbox"/> (its file or database), enqueueing into it (not yet initialised).</summary>
    public Calls.SqlCallStore CreateCallStore(Outbox.SqlOutboxStore outbox) => outbox switch
    {
        Outbox.SqliteOutboxStore sqlite => new Calls.SqliteCallStore(sqlite),
        _ => new Calls.PostgresCallStore(PostgresConnectionString!, outbox),
    };

    /// <summary>Where the store is, for people (no password).</summary>
    public string Describe()
    {
        if (!UsesPostgres)
        {
            return $"SQLite {SqlitePath}";
        }

        var b = new Npgsql.NpgsqlConnectionStringBuilder(PostgresConnectionString);
        return $"PostgreSQL {b.Host}:{b.Port}/{b.Database}";
    }
}
