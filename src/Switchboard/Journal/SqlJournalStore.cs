using System.Data.Common;
using System.Globalization;
using System.Text;

namespace Switchboard.Journal;

/// <summary>
/// The journal's SQL, shared by SQLite and PostgreSQL: both take <c>@name</c> parameters,
/// <c>INSERT … ON CONFLICT DO NOTHING RETURNING</c> and <c>excluded.</c> upserts, so one set of
/// statements serves both and the dialects differ only in how they open, lock and create tables.
/// Times are Unix milliseconds in BIGINT columns in both, so the same rows read the same everywhere.
/// </summary>
public abstract class SqlJournalStore : IJournalStore
{
    // The guard runs inside the INSERT, so "is this portal installed with this token" and "keep the
    // event" are one statement in one transaction: no window between check and write. The guard
    // compares SHA-256 digests; the constant-time comparison is done on the request path, and equality
    // on a digest leaks nothing useful about the token itself. The CASTs give PostgreSQL the types of
    // parameters in a SELECT list (a NULL would otherwise be text); SQLite reads them the same way.
    private const string InsertEventSql = """
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

    private const string FindDuplicateSql = "SELECT id FROM events WHERE dedup_key = @dedup_key";

    private const string InstallSql = """
        INSERT INTO portals (member_id, domain, client_endpoint, server_endpoint, scope, app_status, status,
                             app_token_hash, version, language_id, installed_at, updated_at, uninstalled_at)
        VALUES (@member_id, @domain, @client_endpoint, @server_endpoint, @scope, @app_status, 'installed',
                @token_hash, @version, @language_id, @now, @now, NULL)
        ON CONFLICT (member_id) DO UPDATE SET
            domain = excluded.domain, client_endpoint = excluded.client_endpoint,
            server_endpoint = excluded.server_endpoint, scope = excluded.scope, app_status = excluded.app_status,
            status = 'installed', app_token_hash = excluded.app_token_hash, version = excluded.version,
            language_id = excluded.language_id, installed_at = excluded.installed_at,
            updated_at = excluded.updated_at, uninstalled_at = NULL
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
        UPDATE portals SET status = 'uninstalled', app_token_hash = NULL, updated_at = @now, uninstalled_at = @now
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
        CASE WHEN t.member_id IS NULL THEN 0 ELSE 1 END AS has_tokens
        """;

    /// <summary>
    /// The schema, in both dialects: BIGINT is INTEGER affinity in SQLite, and only the id column
    /// (<c>{IdColumn}</c>, replaced by <see cref="IdColumnDefinition"/>) is spelled differently.
    /// </summary>
    protected IReadOnlyList<string> SharedSchema => SharedSchemaTemplate.Select(s => s.Replace("{IdColumn}", IdColumnDefinition, StringComparison.Ordinal)).ToArray();

    /// <summary>How this dialect declares an auto-numbered primary key.</summary>
    protected abstract string IdColumnDefinition { get; }

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
            dedup_key    TEXT NOT NULL UNIQUE)
        """,
        "CREATE INDEX IF NOT EXISTS events_by_call ON events (call_id) WHERE call_id IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS events_by_member ON events (member_id, id)",
        "CREATE INDEX IF NOT EXISTS events_by_name ON events (event_name, id)",
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
            foreach (var sql in SchemaStatements)
            {
                await using var cmd = Command(connection, tx, sql);
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            return 0;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<AppendResult>> AppendAsync(IReadOnlyList<JournalAppend> batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        return WriteAsync<IReadOnlyList<AppendResult>>(async (connection, tx, ct) =>
        {
            var results = new AppendResult[batch.Count];
            await using var insert = Command(connection, tx, InsertEventSql);
            var p = new
            {
                ReceivedAt = Add(insert, "received_at"), MemberId = Add(insert, "member_id"), EventName = Add(insert, "event_name"),
                CallId = Add(insert, "call_id"), HandlerId = Add(insert, "handler_id"), SentAt = Add(insert, "sent_at"),
                ContentType = Add(insert, "content_type"), Body = Add(insert, "body"), DedupKey = Add(insert, "dedup_key"),
                Guard = Add(insert, "guard"), TokenHash = Add(insert, "token_hash"),
            };

            for (var i = 0; i < batch.Count; i++)
            {
                var a = batch[i];
                p.ReceivedAt.Value = a.ReceivedAt.ToUnixTimeMilliseconds();
                p.MemberId.Value = a.MemberId;
                p.EventName.Value = a.EventName;
                p.CallId.Value = (object?)a.CallId ?? DBNull.Value;
                p.HandlerId.Value = (object?)a.HandlerId ?? DBNull.Value;
                p.SentAt.Value = (object?)a.SentAt?.ToUnixTimeMilliseconds() ?? DBNull.Value;
                p.ContentType.Value = a.ContentType;
                p.Body.Value = a.Body;
                p.DedupKey.Value = a.DedupKey;
                p.Guard.Value = (int)a.Guard.Kind;
                p.TokenHash.Value = (object?)a.Guard.TokenHash ?? DBNull.Value;

                var id = await insert.ExecuteScalarAsync(ct).ConfigureAwait(false);
                if (id is not null and not DBNull)
                {
                    results[i] = new AppendResult(AppendStatus.Stored, Convert.ToInt64(id, CultureInfo.InvariantCulture));
                    if (a.Change is { } change)
                    {
                        await ApplyAsync(connection, tx, change, a.ReceivedAt, ct).ConfigureAwait(false);
                    }

                    continue;
                }

                await using var find = Command(connection, tx, FindDuplicateSql);
                Add(find, "dedup_key", a.DedupKey);
                var existing = await find.ExecuteScalarAsync(ct).ConfigureAwait(false);
                results[i] = existing is null or DBNull
                    ? new AppendResult(AppendStatus.PortalRejected, null)
                    : new AppendResult(AppendStatus.Duplicate, Convert.ToInt64(existing, CultureInfo.InvariantCulture));
            }

            return results;
        }, cancellationToken);
    }

    private static async Task ApplyAsync(DbConnection connection, DbTransaction tx, PortalChange change, DateTimeOffset at, CancellationToken ct)
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
            Add(cmd, "access_token", tokens.AccessToken);
            Add(cmd, "refresh_token", tokens.RefreshToken);
            Add(cmd, "expires_at", tokens.ExpiresAt?.ToUnixTimeMilliseconds());
            Add(cmd, "user_id", tokens.UserId);
            Add(cmd, "now", now);
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
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
            reader.IsDBNull(0) ? null : reader.GetString(0),
            reader.IsDBNull(1) ? null : reader.GetString(1),
            reader.IsDBNull(2) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)),
            reader.IsDBNull(3) ? null : reader.GetInt64(3));
    }

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
                Convert.ToInt64(r.GetValue(13), CultureInfo.InvariantCulture) == 1));
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

    /// <summary>A command on this connection and transaction.</summary>
    protected static DbCommand Command(DbConnection connection, DbTransaction? tx, string sql)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        return cmd;
    }

    private static DbParameter Add(DbCommand cmd, string name, object? value = null)
    {
        var p = cmd.CreateParameter();
        p.ParameterName = name;
        p.Value = value ?? DBNull.Value;
        cmd.Parameters.Add(p);
        return p;
    }
}
