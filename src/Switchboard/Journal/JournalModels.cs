namespace Switchboard.Journal;

/// <summary>One event as kept in the journal. The body has the auth block's tokens removed.</summary>
public sealed record JournalEntry(
    long Id,
    DateTimeOffset ReceivedAt,
    string MemberId,
    string EventName,
    string? CallId,
    long? HandlerId,
    DateTimeOffset? SentAt,
    string ContentType,
    string Body,
    string DedupKey);

/// <summary>An event to append, with what must hold of its portal at commit time and what it changes.</summary>
/// <remarks>
/// <para><see cref="Body"/> is the stored body as UTF-8, the encoding it arrived in and the one SQLite
/// stores: kept as bytes from the request to the statement, it is never turned into a .NET string and
/// back (measured under the benchmark's flood: a fifth of everything the receiving path allocated).</para>
/// <para><see cref="Event"/> is the parsed event, never stored: once committed it is handed to the
/// ledger through <see cref="JournalFeed"/>.</para>
/// </remarks>
public sealed record JournalAppend(
    DateTimeOffset ReceivedAt,
    string MemberId,
    string EventName,
    string? CallId,
    long? HandlerId,
    DateTimeOffset? SentAt,
    string ContentType,
    ReadOnlyMemory<byte> Body,
    string DedupKey,
    PortalGuard Guard,
    PortalChange? Change = null,
    Bitrix24.Events.Bitrix24Event? Event = null);

/// <summary>
/// What the portal row must look like inside the append's transaction. Verification happens on the
/// request path first (fast 401); the guard repeats it where it is authoritative, so an uninstall
/// committed a moment earlier by another request or instance still wins.
/// </summary>
/// <param name="Kind">Which check.</param>
/// <param name="TokenHash">Hex SHA-256 of the application token, for <see cref="PortalGuardKind.TokenMatches"/>.</param>
public sealed record PortalGuard(PortalGuardKind Kind, string? TokenHash = null)
{
    /// <summary>No check: ONAPPINSTALL, the one event checked against policy instead.</summary>
    public static PortalGuard None { get; } = new(PortalGuardKind.None);

    /// <summary>The portal must be installed and hold this token's hash.</summary>
    public static PortalGuard Token(string tokenHash) => new(PortalGuardKind.TokenMatches, tokenHash);

    /// <summary>The portal must be installed (ONAPPUPDATE that brings a new token and passed the install policy).</summary>
    public static PortalGuard Installed { get; } = new(PortalGuardKind.Installed);

    /// <summary>Never stored: answered as a duplicate if the journal already holds the event, refused otherwise
    /// (a copy of an uninstall that has committed).</summary>
    public static PortalGuard DuplicateOnly { get; } = new(PortalGuardKind.DuplicateOnly);
}

/// <summary>See <see cref="PortalGuard"/>.</summary>
public enum PortalGuardKind
{
    /// <summary>No check.</summary>
    None,
    /// <summary>Installed, any token.</summary>
    Installed,
    /// <summary>Installed with this token.</summary>
    TokenMatches,
    /// <summary>Only a copy of an event already in the journal; nothing is ever inserted.</summary>
    DuplicateOnly,
}

/// <summary>A change to a portal, applied in the same transaction as the event that causes it, and only if that event is new.</summary>
public abstract record PortalChange(string MemberId);

/// <summary>ONAPPINSTALL: create the portal, or renew it (a reinstall), with fresh tokens.</summary>
public sealed record PortalInstall(
    string MemberId,
    string Domain,
    string ClientEndpoint,
    string? ServerEndpoint,
    string Scope,
    string? ApplicationStatus,
    string TokenHash,
    string? Version,
    string? LanguageId,
    PortalTokens? Tokens) : PortalChange(MemberId)
{
    /// <summary>
    /// Null for an install the OAuth server proved. Otherwise why it could not be proven yet: the
    /// portal is kept pending and untrusted (its events refused, <see cref="Portal.InstallRefused"/>)
    /// until the install flow proves it.
    /// </summary>
    public string? Untrusted { get; init; }
}

/// <summary>ONAPPUPDATE: the event carries the updated application token, which replaces the stored one.</summary>
public sealed record PortalUpdate(
    string MemberId,
    string TokenHash,
    string? Version,
    string? ApplicationStatus,
    string? Scope,
    PortalTokens? Tokens) : PortalChange(MemberId);

/// <summary>ONAPPUNINSTALL: mark the portal uninstalled and erase every token it had.</summary>
public sealed record PortalUninstall(string MemberId) : PortalChange(MemberId);

/// <summary>OAuth tokens as an install or update delivered them. Kept in their own table.</summary>
public sealed record PortalTokens(string? AccessToken, string? RefreshToken, DateTimeOffset? ExpiresAt, long? UserId)
{
    /// <summary>Never prints the tokens.</summary>
    public override string ToString() => $"PortalTokens {{ AccessToken = {(AccessToken is null ? "(none)" : "(redacted)")}, RefreshToken = {(RefreshToken is null ? "(none)" : "(redacted)")}, ExpiresAt = {ExpiresAt}, UserId = {UserId} }}";
}

/// <summary>How an append ended.</summary>
public enum AppendStatus
{
    /// <summary>New event, committed.</summary>
    Stored,
    /// <summary>The same event was already in the journal; nothing written.</summary>
    Duplicate,
    /// <summary>The portal guard failed at commit time; nothing written.</summary>
    PortalRejected,
}

/// <summary>The outcome of one append: its status and the journal id (the existing one for a duplicate).</summary>
public readonly record struct AppendResult(AppendStatus Status, long? Id);

/// <summary>A portal as the store knows it. Tokens are not part of it.</summary>
public sealed record Portal(
    string MemberId,
    string Domain,
    string ClientEndpoint,
    string? ServerEndpoint,
    string Scope,
    string? ApplicationStatus,
    PortalState State,
    string? TokenHash,
    string? Version,
    string? LanguageId,
    DateTimeOffset InstalledAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? UninstalledAt,
    bool HasOAuthTokens)
{
    /// <summary>Why the portal must be authorised again (the OAuth server said invalid_grant), or null.</summary>
    public string? NeedsReauthorisation { get; init; }

    /// <summary>Why the portal refused the tokens of the current install (the install flow's verify step), or null.
    /// Events of such a portal are refused until an install is verified.</summary>
    public string? InstallRefused { get; init; }

    /// <summary>Hex SHA-256 of the application token the portal's uninstall was verified with, while it is
    /// uninstalled: a copy of that ONAPPUNINSTALL is still recognised (answered as a duplicate), nothing else is.</summary>
    public string? UninstalledTokenHash { get; init; }
}

/// <summary>The portal's REST endpoint and OAuth tokens as stored. Never printed.</summary>
public sealed record StoredCredentials(string ClientEndpoint, string AccessToken, string RefreshToken, DateTimeOffset? ExpiresAt, string? NeedsReauthorisation)
{
    /// <summary>Never prints a token.</summary>
    public override string ToString() => $"StoredCredentials {{ ClientEndpoint = {ClientEndpoint}, NeedsReauthorisation = {NeedsReauthorisation} }}";
}

/// <summary>Installed portals accept events; uninstalled ones get 401.</summary>
public enum PortalState
{
    /// <summary>Installed.</summary>
    Installed,
    /// <summary>Removed from the portal; tokens erased.</summary>
    Uninstalled,
}

/// <summary>Filters for listing the journal, newest first.</summary>
public sealed record JournalQuery(int Limit = 50, string? EventName = null, string? CallId = null, string? MemberId = null, long? BeforeId = null);
