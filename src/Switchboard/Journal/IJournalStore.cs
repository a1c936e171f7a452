namespace Switchboard.Journal;

/// <summary>
/// The journal and the portals it verifies against, in one store so that an event and the portal
/// change it causes commit together. Two implementations, one contract test suite:
/// <see cref="Sqlite.SqliteJournalStore"/> (default) and <see cref="Postgres.PostgresJournalStore"/>.
/// </summary>
public interface IJournalStore : IAsyncDisposable
{
    /// <summary>A short name for logs and the CLI: "sqlite" or "postgres".</summary>
    string Kind { get; }

    /// <summary>Creates or upgrades the schema. Safe to call on every start, from several instances.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Appends a batch in ONE transaction and returns when it is durable: one result per append, in order.
    /// A duplicate (same dedup key) is not written again. Throws when the store cannot commit; then none is kept.
    /// </summary>
    Task<IReadOnlyList<AppendResult>> AppendAsync(IReadOnlyList<JournalAppend> batch, CancellationToken cancellationToken);

    /// <summary>
    /// Oldest first: the events with an id above <paramref name="afterId"/>, at most <paramref name="limit"/>.
    /// How the ledger follows the journal; ids become visible in id order (see <c>AppendOrderLockSql</c>).
    /// </summary>
    Task<IReadOnlyList<JournalEntry>> ReadAfterAsync(long afterId, int limit, CancellationToken cancellationToken);

    /// <summary>Newest first.</summary>
    Task<IReadOnlyList<JournalEntry>> ListEventsAsync(JournalQuery query, CancellationToken cancellationToken);

    /// <summary>One event by id, or null.</summary>
    Task<JournalEntry?> GetEventAsync(long id, CancellationToken cancellationToken);

    /// <summary>Number of events in the journal.</summary>
    Task<long> CountEventsAsync(CancellationToken cancellationToken);

    /// <summary>One portal by member_id, or null.</summary>
    Task<Portal?> FindPortalAsync(string memberId, CancellationToken cancellationToken);

    /// <summary>Every portal, installed or not.</summary>
    Task<IReadOnlyList<Portal>> ListPortalsAsync(CancellationToken cancellationToken);

    /// <summary>The stored OAuth tokens of a portal, or null when none (never installed, or uninstalled).</summary>
    Task<PortalTokens?> GetPortalTokensAsync(string memberId, CancellationToken cancellationToken);

    /// <summary>The client endpoint and tokens of an installed portal that has tokens, or null.</summary>
    Task<StoredCredentials?> GetPortalCredentialsAsync(string memberId, CancellationToken cancellationToken);

    /// <summary>Stores a refreshed token pair; durable when it returns.</summary>
    Task SavePortalTokensAsync(string memberId, string accessToken, string refreshToken, DateTimeOffset? expiresAt, CancellationToken cancellationToken);

    /// <summary>The portal answered from a new address (a renamed portal's 302).</summary>
    Task SetPortalEndpointAsync(string memberId, string clientEndpoint, string domain, CancellationToken cancellationToken);

    /// <summary>Marks the portal as needing re-authorisation; a reinstall clears it.</summary>
    Task MarkPortalNeedsReauthAsync(string memberId, string reason, CancellationToken cancellationToken);

    /// <summary>Records the outcome of one install step of a portal, replacing the previous one.</summary>
    Task RecordSetupStepAsync(SetupStepRecord record, CancellationToken cancellationToken);

    /// <summary>The recorded install steps of a portal, in no particular order.</summary>
    Task<IReadOnlyList<SetupStepRecord>> GetSetupStepsAsync(string memberId, CancellationToken cancellationToken);

    /// <summary>Replaces a portal's users with a complete list, in one transaction.</summary>
    Task ReplacePortalUsersAsync(string memberId, IReadOnlyList<PortalUserRecord> users, CancellationToken cancellationToken);

    /// <summary>A portal's users by user id.</summary>
    Task<IReadOnlyList<PortalUserRecord>> GetPortalUsersAsync(string memberId, CancellationToken cancellationToken);

    /// <summary>
    /// Marks the installed tokens as refused by the portal (<paramref name="reason"/>) or as verified (null).
    /// A refusal also forgets the application token's hash, so no event passes the append guard until a
    /// new install is verified.
    /// </summary>
    Task SetInstallRefusedAsync(string memberId, string? reason, CancellationToken cancellationToken);

    /// <summary>Proves the store can commit a write right now (readiness).</summary>
    Task CheckWritableAsync(CancellationToken cancellationToken);
}
