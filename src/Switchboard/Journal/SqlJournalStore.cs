using System.Data.Common;
using System.Globalization;
using System.Text;
using static Switchboard.Storage.Sql;

namespace Switchboard.Journal;

/// <summary>
/// The journal's SQL, shared by SQLite and PostgreSQL: both take <c>@name</c> parameters,
/// <c>INSERT … ON CONFLICT DO NOTHING RETURNING</c> and <c>excluded.</c> upserts, so one set of
/// statements serves both and the dialects differ only in how they open, lock and create tables —
/// and, for events, in how copies are found: PostgreSQL (and SQLite journals made before
/// <c>event_dedup</c>) by the unique dedup key at the INSERT, new SQLite journals by looking each key
/// up first (<see cref="ChecksDuplicatesBeforeInsert"/>). Times are Unix milliseconds in BIGINT columns in both, so the same rows read the same everywhere.
/// </summary>
public abstract class SqlJournalStore : IJournalStore
{
    /// <summary>
    /// Encrypts access and refresh tokens before they are written and decrypts them when read (the
    /// server always sets it); null keeps them as given, for tests and tools that hold no real token.
    /// </summary>
    public Storage.TokenProtector? Tokens { get; init; }

    private string? Seal(string memberId, string? token) => token is null || Tokens is null ? token : Tokens.Protect(memberId, token);

    private string Open(string memberId, string stored) =>
        Tokens is null ? stored
        : Tokens.TryUnprotect(memberId, stored, out var token) ? token
        : throw new Storage.PortalTokensUnreadableException(memberId, Tokens.KeyRingFolder);

    // The guard runs inside the INSERT, so "is this portal installed with this token" and "keep the
    // event" are one statement in one transaction: no window between check and write. The guard
    // compares SHA-256 digests; the constant-time comparison is done on the request path, and equality
    // on a digest leaks nothing useful about the token itself. The CASTs give PostgreSQL the types of
    // parameters in a SELECT list (a NULL would otherwise be text); SQLite reads them the same way.
    /// <summary>The guarded single-event INSERT; a copy of a stored event inserts nothing.</summary>
    protected const string InsertEventSql = """
        INSERT INTO events (received_at, member_id, event_name, call_id, handler_id, sent_at, content_type, body, dedup_key)
        SELECT CAST(@received_at AS BIGINT), CAST(@member_id AS TEXT), CAST(@event_name AS TEXT), CAST(@call_id AS TEXT),
               CAST(@handler_id AS BIGINT), CAST(@sent_at AS BIGINT), CAST(@content_type AS TEXT), CAST(@body AS TEXT),
               CAST(@dedup_key AS TEXT)
        WHERE @guard = 0
           OR EXISTS (SELECT 1 FROM portals p
                      WHERE p.member_id = @member_id AND p.status = 'installed'
                        AND (@guard = 1 OR p.app_token_hash = @token_hash))
        ON CONFLICT (dedup_key) DO NOTHING
        RETURNING id
        """;

    private const string InstallSql = """
        INSERT INTO portals (member_id, domain, client_endpoint, server_endpoint, scope, app_status, status,
                             app_token_hash, version, language_id, installed_at, updated_at, uninstalled_at, install_refused)
        VALUES (@member_id, @domain, @client_endpoint, @server_endpoint, @scope, @app_status, 'installed',
                @token_hash, @version, @language_id, @now, @now, NULL, @install_refused)
        ON CONFLICT (member_id) DO UPDATE SET
            domain = excluded.domain, client_endpoint = excluded.client_endpoint,
            server_endpoint = excluded.server_endpoint, scope = excluded.scope, app_status = excluded.app_status,
            status = 'installed', app_token_hash = excluded.app_token_hash, version = excluded.version,
            language_id = excluded.language_id, installed_at = excluded.installed_at,
            updated_at = excluded.updated_at, uninstalled_at = NULL, needs_reauth = NULL,
            uninstalled_token_hash = NULL, install_refused = excluded.install_refused
        """;

    private const string UpdateSql = """
        UPDATE portals SET app_token_hash = @token_hash,
                           version = COALESCE(@version, version),
                           app_status = COALESCE(@app_status, app_status),
                           scope = COALESCE(@scope, scope),
                           updated_at = @now
        WHERE member_id = @member_id AND status = 'installed'
        """;

    private const string UninstallSql = """
        UPDATE portals SET status = 'uninstalled', app_token_hash = NULL, updated_at = @now, uninstalled_at = @now,
                           uninstalled_token_hash = COALESCE(app_token_hash, uninstalled_token_hash)
        WHERE member_id = @member_id
        """;

    private const string UpsertTokensSql = """
        INSERT INTO portal_tokens (member_id, access_token, refresh_token, expires_at, user_id, updated_at)
        VALUES (@member_id, @access_token, @refresh_token, @expires_at, @user_id, @now)
        ON CONFLICT (member_id) DO UPDATE SET
            access_token = excluded.access_token, refresh_token = excluded.refresh_token,
            expires_at = excluded.expires_at, user_id = excluded.user_id, updated_at = excluded.updated_at
        """;

    private const string DeleteTokensSql = "DELETE FROM portal_tokens WHERE member_id = @member_id";

    private const string EventColumns = "id, received_at, member_id, event_name, call_id, handler_id, sent_at, content_type, body, dedup_key";

    private const string PortalColumns = """
        p.member_id, p.domain, p.client_endpoint, p.server_endpoint, p.scope, p.app_status, p.status, p.app_token_hash,
        p.version, p.language_id, p.installed_at, p.updated_at, p.uninstalled_at,
        CASE WHEN t.member_id IS NULL THEN 0 ELSE 1 END AS has_tokens, p.needs_reauth, p.install_refused,
        p.uninstalled_token_hash
        """;

    /// <summary>
    /// The schema, in both dialects: BIGINT is INTEGER affinity in SQLite, and only the id column
    /// (<c>{IdColumn}</c>, replaced by <see cref="IdColumnDefinition"/>) is spelled differently.
    /// </summary>
    protected IReadOnlyList<string> SharedSchema => SharedSchemaTemplate
        .Select(s => s.Replace("{IdColumn}", IdColumnDefinition, StringComparison.Ordinal).Replace("{DedupKeyConstraint}", DedupKeyConstraint, StringComparison.Ordinal))
        .ToArray();

    /// <summary>How this dialect declares an auto-numbered primary key.</summary>
    protected abstract string IdColumnDefinition { get; }

    /// <summary>
    /// The constraint on <c>events.dedup_key</c> in a new file: <c>UNIQUE</c>, which is what makes
    /// copies stored once across instances. A store that keeps its keys another way (SQLite: see
    /// <see cref="ChecksDuplicatesBeforeInsert"/>) leaves it out.
    /// </summary>
    protected virtual string DedupKeyConstraint => "UNIQUE";

    /// <summary>
    /// False: the unique dedup key refuses a copy at the INSERT (<c>ON CONFLICT DO NOTHING</c>), and its
    /// id is looked up afterwards. True: the store looks every key up first (<see cref="FindIdsAsync"/>)
    /// and inserts only new ones, with <see cref="InsertEventSqlText"/> and <see cref="InsertRowsAsync"/>.
    /// </summary>
    protected virtual bool ChecksDuplicatesBeforeInsert => false;

    /// <summary>The single-event INSERT (portal-changing events), guarded; returns the new id or nothing.</summary>
    protected virtual string InsertEventSqlText => InsertEventSql;

    /// <summary>Told of every event the single-event path inserted, in the transaction that inserted it.</summary>
    protected virtual void OnInserted(string dedupKey, long id)
    {
    }

    private static readonly string[] SharedSchemaTemplate =
    [
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """
        CREATE TABLE IF NOT EXISTS portals (
            member_id       TEXT PRIMARY KEY,
            domain          TEXT NOT NULL,
            client_endpoint TEXT NOT NULL,
            server_endpoint TEXT,
            scope           TEXT NOT NULL,
            app_status      TEXT,
            status          TEXT NOT NULL CHECK (status IN ('installed', 'uninstalled')),
            app_token_hash  TEXT,
            version         TEXT,
            language_id     TEXT,
            installed_at    BIGINT NOT NULL,
            updated_at      BIGINT NOT NULL,
            uninstalled_at  BIGINT)
        """,
        """
        CREATE TABLE IF NOT EXISTS portal_tokens (
            member_id     TEXT PRIMARY KEY REFERENCES portals (member_id),
            access_token  TEXT,
            refresh_token TEXT,
            expires_at    BIGINT,
            user_id       BIGINT,
            updated_at    BIGINT NOT NULL)
        """,
        """
        CREATE TABLE IF NOT EXISTS events (
            id           {IdColumn},
            received_at  BIGINT NOT NULL,
            member_id    TEXT NOT NULL,
            event_name   TEXT NOT NULL,
            call_id      TEXT,
            handler_id   BIGINT,
            sent_at      BIGINT,
            content_type TEXT NOT NULL,
            body         TEXT NOT NULL,
            dedup_key    TEXT NOT NULL {DedupKeyConstraint})
        """,
        "INSERT INTO meta (key, value) VALUES ('schema_version', '1') ON CONFLICT (key) DO NOTHING",
    ];

    /// <inheritdoc/>
    public abstract string Kind { get; }

    /// <summary>Schema statements, run in order by <see cref="InitializeAsync"/>.</summary>
    protected abstract IReadOnlyList<string> SchemaStatements { get; }

    /// <summary>Opens a connection for reading.</summary>
    protected abstract ValueTask<DbConnection> OpenReadConnectionAsync(CancellationToken cancellationToken);

    /// <summary>Runs <paramref name="work"/> in a write transaction and commits it durably.</summary>
    protected abstract Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, CancellationToken, Task<T>> work, CancellationToken cancellationToken);

    /// <inheritdoc/>
    public virtual async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await WriteAsync(async (connection, tx, ct) =>
        {
            await ExecuteAllAsync(connection, tx, SchemaStatements, ct).ConfigureAwait(false);

            await using var read = Command(connection, tx, "SELECT value FROM meta WHERE key = 'schema_version'");
            var version = int.Parse((string)(await read.ExecuteScalarAsync(ct).ConfigureAwait(false))!, CultureInfo.InvariantCulture);
            for (; version < Migrations.Length + 1; version++)
            {
                await using var migrate = Command(connection, tx, Migrations[version - 1]);
                await migrate.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                await using var bump = Command(connection, tx, "UPDATE meta SET value = @v WHERE key = 'schema_version'");
                Add(bump, "v", (version + 1).ToString(CultureInfo.InvariantCulture));
                await bump.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            return 0;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Schema changes after version 1, in order: entry n takes version n+1 to n+2. Run in the
    /// initialising transaction (PostgreSQL: under the schema advisory lock), so instances starting
    /// together migrate once. Never edit an entry; append one.
    /// </summary>
    private static readonly string[] Migrations =
    [
        // 2: the OAuth server answered invalid_grant; the reason, until a reinstall clears it.
        "ALTER TABLE portals ADD COLUMN needs_reauth TEXT",

        // 3: the install flow (Portals/Setup): each step's last outcome, the portal's users with their
        // extensions, and the mark of an install whose tokens the portal refused.
        """
        ALTER TABLE portals ADD COLUMN install_refused TEXT;
        CREATE TABLE IF NOT EXISTS portal_setup (
            member_id  TEXT NOT NULL,
            step       TEXT NOT NULL,
            status     TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'pending')),
            detail     TEXT,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (member_id, step));
        CREATE TABLE IF NOT EXISTS portal_users (
            member_id TEXT NOT NULL,
            user_id   BIGINT NOT NULL,
            name      TEXT,
            extension TEXT,
            active    INTEGER NOT NULL,
            PRIMARY KEY (member_id, user_id))
        """,

        // 4: the digest of the application token an uninstall was verified with, so that a copy of that
        // ONAPPUNINSTALL (a retry, a parallel copy arriving after the first committed) is answered as the
        // duplicate it is rather than 401. Cleared by the next install.
        "ALTER TABLE portals ADD COLUMN uninstalled_token_hash TEXT",
    ];

    /// <inheritdoc/>
    public async Task<StoredCredentials?> GetPortalCredentialsAsync(string memberId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = Command(connection, null, """
            SELECT p.client_endpoint, t.access_token, t.refresh_token, t.expires_at, p.needs_reauth
            FROM portals p JOIN portal_tokens t ON t.member_id = p.member_id
            WHERE p.member_id = @member_id AND p.status = 'installed'
            """);
        Add(cmd, "member_id", memberId);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await r.ReadAsync(cancellationToken).ConfigureAwait(false) || r.IsDBNull(1) || r.IsDBNull(2))
        {
            return null;
        }

        return new StoredCredentials(
            r.GetString(0), Open(memberId, r.GetString(1)), Open(memberId, r.GetString(2)),
            r.IsDBNull(3) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3)),
            NullableString(r, 4));
    }

    /// <inheritdoc/>
    public Task SavePortalTokensAsync(string memberId, string accessToken, string refreshToken, DateTimeOffset? expiresAt, CancellationToken cancellationToken) =>
        ChangePortalAsync("""
            UPDATE portal_tokens SET access_token = @access_token, refresh_token = @refresh_token,
                                     expires_at = CAST(@expires_at AS BIGINT), updated_at = @now
            WHERE member_id = @member_id
            """, memberId, [("access_token", Seal(memberId, accessToken)), ("refresh_token", Seal(memberId, refreshToken)), ("expires_at", expiresAt?.ToUnixTimeMilliseconds())], cancellationToken);

    /// <inheritdoc/>
    public Task SetPortalEndpointAsync(string memberId, string clientEndpoint, string domain, CancellationToken cancellationToken) =>
        ChangePortalAsync("UPDATE portals SET client_endpoint = @client_endpoint, domain = @domain, updated_at = @now WHERE member_id = @member_id",
            memberId, [("client_endpoint", clientEndpoint), ("domain", domain)], cancellationToken);

    /// <inheritdoc/>
    public Task MarkPortalNeedsReauthAsync(string memberId, string reason, CancellationToken cancellationToken) =>
        ChangePortalAsync("UPDATE portals SET needs_reauth = @reason, updated_at = @now WHERE member_id = @member_id",
            memberId, [("reason", reason)], cancellationToken);

    private Task<int> ChangePortalAsync(string sql, string memberId, (string Name, object? Value)[] values, CancellationToken cancellationToken) =>
        WriteAsync(async (connection, tx, ct) =>
        {
            await using var cmd = Command(connection, tx, sql);
            Add(cmd, "member_id", memberId);
            Add(cmd, "now", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            foreach (var (name, value) in values)
            {
                Add(cmd, name, value);
            }

            return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);

    /// <summary>
    /// Taken first in every append transaction where several writers can append at once, so that
    /// journal ids become visible in id order: the ledger reads the journal with a cursor ("every id
    /// above N"), and a row with a lower id committing after a higher one would be skipped for good.
    /// Null where one writer appends (SQLite).
    /// </summary>
    protected virtual string? AppendOrderLockSql => null;

    /// <inheritdoc/>
    public Task<IReadOnlyList<AppendResult>> AppendAsync(IReadOnlyList<JournalAppend> batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        return WriteAsync<IReadOnlyList<AppendResult>>(async (connection, tx, ct) =>
        {
            if (AppendOrderLockSql is { } orderLock)
            {
                await using var lockCmd = Command(connection, tx, orderLock);
                await lockCmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            var results = new AppendResult[batch.Count];
            var start = 0;
            for (var i = 0; i <= batch.Count; i++)
            {
                // Ordinary events go in bulk; an event that changes its portal (install, update,
                // uninstall: rare) ends the run and goes alone, so every event after it in the batch
                // is checked against the portal as it changed.
                if (i < batch.Count && batch[i].Change is null && batch[i].Guard.Kind != PortalGuardKind.DuplicateOnly)
                {
                    continue;
                }

                if (i > start)
                {
                    await AppendRunAsync(connection, tx, batch, start, i, results, ct).ConfigureAwait(false);
                }

                if (i < batch.Count)
                {
                    results[i] = await AppendOneAsync(connection, tx, batch[i], ct).ConfigureAwait(false);
                }

                start = i + 1;
            }

            return results;
        }, cancellationToken);
    }

    /// <summary>
    /// A run of events without portal changes, in three statements whatever its length: read the
    /// portals the run names (locked against a concurrent uninstall where the dialect can), insert
    /// every event whose guard holds in one multi-row INSERT, and look up the ids of the duplicates.
    /// One statement per step instead of one per event is what keeps a single writer ahead of the network.
    /// </summary>
    private async Task AppendRunAsync(DbConnection connection, DbTransaction tx, IReadOnlyList<JournalAppend> batch, int from, int to, AppendResult[] results, CancellationToken ct)
    {
        var portals = await ReadGuardsAsync(connection, tx, batch, from, to, ct).ConfigureAwait(false);

        var firstIndexOfKey = new Dictionary<string, int>(to - from, StringComparer.Ordinal);
        var toInsert = new List<int>(to - from);
        var rejected = new bool[to - from];
        for (var i = from; i < to; i++)
        {
            var a = batch[i];
            if (!GuardHolds(a, portals))
            {
                rejected[i - from] = true;
                results[i] = new AppendResult(AppendStatus.PortalRejected, null);
            }
            else if (firstIndexOfKey.TryAdd(a.DedupKey, i))
            {
                toInsert.Add(i);
            }
        }

        var ids = await InsertRowsAsync(connection, tx, toInsert.Select(i => batch[i]).ToList(), ct).ConfigureAwait(false);

        // Keys that were not inserted were already in the journal (an earlier batch, another instance).
        var existing = toInsert.Select(i => batch[i].DedupKey).Where(k => !ids.ContainsKey(k)).ToList();
        var duplicates = await FindIdsAsync(connection, tx, existing, ct).ConfigureAwait(false);

        for (var i = from; i < to; i++)
        {
            if (rejected[i - from])
            {
                continue;
            }

            var key = batch[i].DedupKey;
            if (firstIndexOfKey[key] == i && ids.TryGetValue(key, out var id))
            {
                results[i] = new AppendResult(AppendStatus.Stored, id);
            }
            else
            {
                results[i] = new AppendResult(AppendStatus.Duplicate, ids.TryGetValue(key, out var first) ? first : duplicates[key]);
            }
        }
    }

    private async Task<Dictionary<string, string?>> ReadGuardsAsync(DbConnection connection, DbTransaction tx, IReadOnlyList<JournalAppend> batch, int from, int to, CancellationToken ct)
    {
        var members = new HashSet<string>(StringComparer.Ordinal);
        for (var i = from; i < to; i++)
        {
            if (batch[i].Guard.Kind != PortalGuardKind.None)
            {
                members.Add(batch[i].MemberId);
            }
        }

        var portals = new Dictionary<string, string?>(members.Count, StringComparer.Ordinal);
        if (members.Count == 0)
        {
            return portals;
        }

        await using var cmd = Command(connection, tx, string.Empty);
        var names = new List<string>(members.Count);
        foreach (var m in members)
        {
            var name = $"m{names.Count}";
            names.Add("@" + name);
            Add(cmd, name, m);
        }

        cmd.CommandText = $"SELECT member_id, app_token_hash FROM portals WHERE status = 'installed' AND member_id IN ({string.Join(", ", names)}){LockPortalRowsClause}";
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            portals[reader.GetString(0)] = reader.IsDBNull(1) ? null : reader.GetString(1);
        }

        return portals;
    }

    // Equality of SHA-256 digests: the constant-time comparison of the tokens happened on the request
    // path; here the digest is only matched again, which reveals nothing about the token.
    private static bool GuardHolds(JournalAppend a, Dictionary<string, string?> installedPortals) => a.Guard.Kind switch
    {
        PortalGuardKind.None => true,
        PortalGuardKind.Installed => installedPortals.ContainsKey(a.MemberId),
        PortalGuardKind.DuplicateOnly => false,
        _ => installedPortals.TryGetValue(a.MemberId, out var hash) && hash is not null && string.Equals(hash, a.Guard.TokenHash, StringComparison.Ordinal),
    };

    /// <summary>The ids of the events already journalled under these dedup keys (those not found are left out).</summary>
    protected virtual async Task<Dictionary<string, long>> FindIdsAsync(DbConnection connection, DbTransaction tx, List<string> keys, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var found = new Dictionary<string, long>(keys.Count, StringComparer.Ordinal);
        foreach (var chunk in keys.Chunk(MaxRowsPerInsert))
        {
            await using var cmd = Command(connection, tx, string.Empty);
            var names = new string[chunk.Length];
            for (var i = 0; i < chunk.Length; i++)
            {
                names[i] = $"@k{i}";
                Add(cmd, $"k{i}", chunk[i]);
            }

            cmd.CommandText = $"SELECT id, dedup_key FROM events WHERE dedup_key IN ({string.Join(", ", names)})";
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                found[reader.GetString(1)] = reader.GetInt64(0);
            }
        }

        return found;
    }

    /// <summary>One event, alone: the path of events that change their portal.</summary>
    private async Task<AppendResult> AppendOneAsync(DbConnection connection, DbTransaction tx, JournalAppend a, CancellationToken ct)
    {
        // A copy is found before the insert where the store looks keys up first, and always for a
        // DuplicateOnly event, which is never inserted.
        var duplicateOnly = a.Guard.Kind == PortalGuardKind.DuplicateOnly;
        if (ChecksDuplicatesBeforeInsert || duplicateOnly)
        {
            if ((await FindIdsAsync(connection, tx, [a.DedupKey], ct).ConfigureAwait(false)).TryGetValue(a.DedupKey, out var known))
            {
                return new AppendResult(AppendStatus.Duplicate, known);
            }

            if (duplicateOnly)
            {
                return new AppendResult(AppendStatus.PortalRejected, null);
            }
        }

        await using var insert = Command(connection, tx, InsertEventSqlText);
        Add(insert, "received_at", a.ReceivedAt.ToUnixTimeMilliseconds());
        Add(insert, "member_id", a.MemberId);
        Add(insert, "event_name", a.EventName);
        Add(insert, "call_id", a.CallId);
        Add(insert, "handler_id", a.HandlerId);
        Add(insert, "sent_at", a.SentAt?.ToUnixTimeMilliseconds());
        Add(insert, "content_type", a.ContentType);
        Add(insert, "body", System.Text.Encoding.UTF8.GetString(a.Body.Span));
        Add(insert, "dedup_key", a.DedupKey);
        Add(insert, "guard", (int)a.Guard.Kind);
        Add(insert, "token_hash", a.Guard.TokenHash);

        var id = await insert.ExecuteScalarAsync(ct).ConfigureAwait(false);
        if (id is not null and not DBNull)
        {
            var newId = Convert.ToInt64(id, CultureInfo.InvariantCulture);
            OnInserted(a.DedupKey, newId);
            if (a.Change is { } change)
            {
                await ApplyAsync(connection, tx, change, a.ReceivedAt, ct).ConfigureAwait(false);
            }

            return new AppendResult(AppendStatus.Stored, newId);
        }

        // Nothing inserted: the guard refused it, or (unique key) a copy is already there.
        if (!ChecksDuplicatesBeforeInsert && (await FindIdsAsync(connection, tx, [a.DedupKey], ct).ConfigureAwait(false)).TryGetValue(a.DedupKey, out var existing))
        {
            return new AppendResult(AppendStatus.Duplicate, existing);
        }

        return new AppendResult(AppendStatus.PortalRejected, null);
    }

    /// <summary>
    /// Inserts rows whose guards held, skipping dedup keys already present; returns the new ids by
    /// dedup key. Here: multi-row INSERT … ON CONFLICT DO NOTHING RETURNING, in chunks.
    /// </summary>
    protected virtual async Task<Dictionary<string, long>> InsertRowsAsync(DbConnection connection, DbTransaction tx, IReadOnlyList<JournalAppend> rows, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var ids = new Dictionary<string, long>(rows.Count, StringComparer.Ordinal);
        foreach (var chunk in rows.Chunk(MaxRowsPerInsert))
        {
            await using var insert = Command(connection, tx, BulkInsertSql(chunk.Length));
            for (var r = 0; r < chunk.Length; r++)
            {
                var a = chunk[r];
                Add(insert, $"r{r}_0", a.ReceivedAt.ToUnixTimeMilliseconds());
                Add(insert, $"r{r}_1", a.MemberId);
                Add(insert, $"r{r}_2", a.EventName);
                Add(insert, $"r{r}_3", a.CallId);
                Add(insert, $"r{r}_4", a.HandlerId);
                Add(insert, $"r{r}_5", a.SentAt?.ToUnixTimeMilliseconds());
                Add(insert, $"r{r}_6", a.ContentType);
                Add(insert, $"r{r}_7", System.Text.Encoding.UTF8.GetString(a.Body.Span));
                Add(insert, $"r{r}_8", a.DedupKey);
            }

            await using var reader = await insert.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                ids[reader.GetString(1)] = reader.GetInt64(0);
            }
        }

        return ids;
    }

    /// <summary>Rows per multi-row INSERT and per lookup of duplicates.</summary>
    protected virtual int MaxRowsPerInsert => 256;

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, string> BulkInsertSqlByRows = new();

    private static string BulkInsertSql(int rows) => BulkInsertSqlByRows.GetOrAdd(rows, n =>
    {
        var sb = new StringBuilder("INSERT INTO events (received_at, member_id, event_name, call_id, handler_id, sent_at, content_type, body, dedup_key) VALUES ");
        for (var r = 0; r < n; r++)
        {
            sb.Append(r == 0 ? "" : ", ")
              .Append(CultureInfo.InvariantCulture, $"(CAST(@r{r}_0 AS BIGINT), @r{r}_1, @r{r}_2, CAST(@r{r}_3 AS TEXT), CAST(@r{r}_4 AS BIGINT), CAST(@r{r}_5 AS BIGINT), @r{r}_6, @r{r}_7, @r{r}_8)");
        }

        return sb.Append(" ON CONFLICT (dedup_key) DO NOTHING RETURNING id, dedup_key").ToString();
    });

    /// <summary>Appended to the guard query: PostgreSQL locks the portal rows (FOR SHARE) so an uninstall commits before or after the run, never in between.</summary>
    protected virtual string LockPortalRowsClause => string.Empty;

    private async Task ApplyAsync(DbConnection connection, DbTransaction tx, PortalChange change, DateTimeOffset at, CancellationToken ct)
    {
        var now = at.ToUnixTimeMilliseconds();
        PortalTokens? tokens = null;
        switch (change)
        {
            case PortalInstall i:
            {
                await using var cmd = Command(connection, tx, InstallSql);
                Add(cmd, "member_id", i.MemberId);
                Add(cmd, "domain", i.Domain);
                Add(cmd, "client_endpoint", i.ClientEndpoint);
                Add(cmd, "server_endpoint", i.ServerEndpoint);
                Add(cmd, "scope", i.Scope);
                Add(cmd, "app_status", i.ApplicationStatus);
                Add(cmd, "token_hash", i.TokenHash);
                Add(cmd, "version", i.Version);
                Add(cmd, "language_id", i.LanguageId);
                Add(cmd, "install_refused", i.Untrusted);
                Add(cmd, "now", now);
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                tokens = i.Tokens;
                break;
            }

            case PortalUpdate u:
            {
                await using var cmd = Command(connection, tx, UpdateSql);
                Add(cmd, "member_id", u.MemberId);
                Add(cmd, "token_hash", u.TokenHash);
                Add(cmd, "version", u.Version);
                Add(cmd, "app_status", u.ApplicationStatus);
                Add(cmd, "scope", u.Scope);
                Add(cmd, "now", now);
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                tokens = u.Tokens;
                break;
            }

            case PortalUninstall un:
            {
                await using var cmd = Command(connection, tx, UninstallSql);
                Add(cmd, "member_id", un.MemberId);
                Add(cmd, "now", now);
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                await using var delete = Command(connection, tx, DeleteTokensSql);
                Add(delete, "member_id", un.MemberId);
                await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                return;
            }
        }

        if (tokens is { AccessToken: not null } or { RefreshToken: not null })
        {
            await using var cmd = Command(connection, tx, UpsertTokensSql);
            Add(cmd, "member_id", change.MemberId);
            Add(cmd, "access_token", Seal(change.MemberId, tokens.AccessToken));
            Add(cmd, "refresh_token", Seal(change.MemberId, tokens.RefreshToken));
            Add(cmd, "expires_at", tokens.ExpiresAt?.ToUnixTimeMilliseconds());
            Add(cmd, "user_id", tokens.UserId);
            Add(cmd, "now", now);
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<JournalEntry>> ReadAfterAsync(long afterId, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        await using var connection = await OpenReadConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = Command(connection, null, $"SELECT {EventColumns} FROM events WHERE id > @after ORDER BY id LIMIT @limit");
        Add(cmd, "after", afterId);
        Add(cmd, "limit", (long)limit);
        return await ReadEventsAsync(cmd, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<JournalEntry>> ListEventsAsync(JournalQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var sql = new StringBuilder($"SELECT {EventColumns} FROM events WHERE 1 = 1");
        await using var connection = await OpenReadConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = connection.CreateCommand();
        if (query.EventName is not null)
        {
            sql.Append(" AND event_name = @event_name");
            Add(cmd, "event_name", query.EventName.ToUpperInvariant());
        }

        if (query.CallId is not null)
        {
            sql.Append(" AND call_id = @call_id");
            Add(cmd, "call_id", query.CallId);
        }

        if (query.MemberId is not null)
        {
            sql.Append(" AND member_id = @member_id");
            Add(cmd, "member_id", query.MemberId);
        }

        if (query.BeforeId is not null)
        {
            sql.Append(" AND id < @before_id");
            Add(cmd, "before_id", query.BeforeId.Value);
        }

        sql.Append(" ORDER BY id DESC LIMIT @limit");
        Add(cmd, "limit", (long)Math.Max(0, query.Limit));
        cmd.CommandText = sql.ToString();
        return await ReadEventsAsync(cmd, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async Task<JournalEntry?> GetEventAsync(long id, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = Command(connection, null, $"SELECT {EventColumns} FROM events WHERE id = @id");
        Add(cmd, "id", id);
        var rows = await ReadEventsAsync(cmd, cancellationToken).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0];
    }

    /// <inheritdoc/>
    public async Task<long> CountEventsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = Command(connection, null, "SELECT COUNT(*) FROM events");
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
    }

    /// <inheritdoc/>
    public async Task<Portal?> FindPortalAsync(string memberId, CancellationToken cancellationToken)
    {
        var rows = await ReadPortalsAsync("WHERE p.member_id = @member_id", memberId, cancellationToken).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0];
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<Portal>> ListPortalsAsync(CancellationToken cancellationToken) =>
        ReadPortalsAsync("ORDER BY p.domain, p.member_id", null, cancellationToken);

    /// <inheritdoc/>
    public async Task<PortalTokens?> GetPortalTokensAsync(string memberId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = Command(connection, null, "SELECT access_token, refresh_token, expires_at, user_id FROM portal_tokens WHERE member_id = @member_id");
        Add(cmd, "member_id", memberId);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        return new PortalTokens(
            reader.IsDBNull(0) ? null : Open(memberId, reader.GetString(0)),
            reader.IsDBNull(1) ? null : Open(memberId, reader.GetString(1)),
            reader.IsDBNull(2) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)),
            reader.IsDBNull(3) ? null : reader.GetInt64(3));
    }

    #region Install flow (Portals/Setup): setup steps, portal users, refused installs

    /// <inheritdoc/>
    public Task RecordSetupStepAsync(SetupStepRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        return WriteAsync(async (connection, tx, ct) =>
        {
            await using var cmd = Command(connection, tx, """
                INSERT INTO portal_setup (member_id, step, status, detail, updated_at)
                VALUES (@member_id, @step, @status, @detail, @updated_at)
                ON CONFLICT (member_id, step) DO UPDATE SET
                    status = excluded.status, detail = excluded.detail, updated_at = excluded.updated_at
                """);
            Add(cmd, "member_id", record.MemberId);
            Add(cmd, "step", record.Step);
            Add(cmd, "status", record.Status.ToString().ToLowerInvariant());
            Add(cmd, "detail", record.Detail);
            Add(cmd, "updated_at", record.UpdatedAt.ToUnixTimeMilliseconds());
            return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<SetupStepRecord>> GetSetupStepsAsync(string memberId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = Command(connection, null, "SELECT step, status, detail, updated_at FROM portal_setup WHERE member_id = @member_id ORDER BY updated_at, step");
        Add(cmd, "member_id", memberId);
        var list = new List<SetupStepRecord>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            list.Add(new SetupStepRecord(memberId, r.GetString(0),
                Enum.Parse<SetupStatus>(r.GetString(1), ignoreCase: true), NullableString(r, 2),
                DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3))));
        }

        return list;
    }

    /// <inheritdoc/>
    public Task ReplacePortalUsersAsync(string memberId, IReadOnlyList<PortalUserRecord> users, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(users);
        // Delete and insert in one transaction: a reader sees the old list or the new one, never a
        // part of each (a partial list is how calls get the wrong user, FIELD-LESSONS #6).
        return WriteAsync(async (connection, tx, ct) =>
        {
            await using (var delete = Command(connection, tx, "DELETE FROM portal_users WHERE member_id = @member_id"))
            {
                Add(delete, "member_id", memberId);
                await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await using var insert = Command(connection, tx, """
                INSERT INTO portal_users (member_id, user_id, name, extension, active)
                VALUES (@member_id, @user_id, @name, @extension, @active)
                ON CONFLICT (member_id, user_id) DO NOTHING
                """);
            Add(insert, "member_id", memberId);
            var userId = Add(insert, "user_id");
            var name = Add(insert, "name");
            var extension = Add(insert, "extension");
            var active = Add(insert, "active");
            foreach (var u in users)
            {
                userId.Value = u.UserId;
                name.Value = (object?)u.Name ?? DBNull.Value;
                extension.Value = (object?)u.Extension ?? DBNull.Value;
                active.Value = u.Active ? 1 : 0;
                await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            return users.Count;
        }, cancellationToken);
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<PortalUserRecord>> GetPortalUsersAsync(string memberId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = Command(connection, null, "SELECT user_id, name, extension, active FROM portal_users WHERE member_id = @member_id ORDER BY user_id");
        Add(cmd, "member_id", memberId);
        var list = new List<PortalUserRecord>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            list.Add(new PortalUserRecord(r.GetInt64(0), NullableString(r, 1), NullableString(r, 2),
                Convert.ToInt64(r.GetValue(3), CultureInfo.InvariantCulture) != 0));
        }

        return list;
    }

    /// <inheritdoc/>
    public Task SetInstallRefusedAsync(string memberId, string? reason, CancellationToken cancellationToken) =>
        reason is null
            ? ChangePortalAsync("UPDATE portals SET install_refused = NULL, updated_at = @now WHERE member_id = @member_id AND install_refused IS NOT NULL",
                memberId, [], cancellationToken)
            // Forgetting the token hash makes the append guard (InsertEventSql) refuse this portal's
            // events even where a verifier still holds a cached entry from before the refusal.
            : ChangePortalAsync("UPDATE portals SET install_refused = @reason, app_token_hash = NULL, updated_at = @now WHERE member_id = @member_id",
                memberId, [("reason", reason)], cancellationToken);

    #endregion

    /// <inheritdoc/>
    public Task CheckWritableAsync(CancellationToken cancellationToken) =>
        WriteAsync(async (connection, tx, ct) =>
        {
            // A real committed write: a file that became read-only, a full disk or a lost
            // database shows up here, not only when the next event arrives.
            await using var cmd = Command(connection, tx, """
                INSERT INTO meta (key, value) VALUES ('heartbeat', @now)
                ON CONFLICT (key) DO UPDATE SET value = excluded.value
                """);
            Add(cmd, "now", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture));
            return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);

    /// <inheritdoc/>
    public abstract ValueTask DisposeAsync();

    private async Task<IReadOnlyList<Portal>> ReadPortalsAsync(string tail, string? memberId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReadConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = Command(connection, null, $"SELECT {PortalColumns} FROM portals p LEFT JOIN portal_tokens t ON t.member_id = p.member_id {tail}");
        if (memberId is not null)
        {
            Add(cmd, "member_id", memberId);
        }

        var list = new List<Portal>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            list.Add(new Portal(
                r.GetString(0), r.GetString(1), r.GetString(2), NullableString(r, 3), r.GetString(4), NullableString(r, 5),
                r.GetString(6) == "installed" ? PortalState.Installed : PortalState.Uninstalled,
                NullableString(r, 7), NullableString(r, 8), NullableString(r, 9),
                DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(10)),
                DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(11)),
                r.IsDBNull(12) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(12)),
                Convert.ToInt64(r.GetValue(13), CultureInfo.InvariantCulture) == 1)
            {
                NeedsReauthorisation = NullableString(r, 14),
                InstallRefused = NullableString(r, 15),
                UninstalledTokenHash = NullableString(r, 16),
            });
        }

        return list;
    }

    private static async Task<IReadOnlyList<JournalEntry>> ReadEventsAsync(DbCommand cmd, CancellationToken cancellationToken)
    {
        var list = new List<JournalEntry>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            list.Add(new JournalEntry(
                r.GetInt64(0),
                DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1)),
                r.GetString(2), r.GetString(3), NullableString(r, 4),
                r.IsDBNull(5) ? null : r.GetInt64(5),
                r.IsDBNull(6) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(6)),
                r.GetString(7), r.GetString(8), r.GetString(9)));
        }

        return list;
    }

    private static string? NullableString(DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);


}
