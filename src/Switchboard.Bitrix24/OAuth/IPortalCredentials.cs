namespace Switchboard.Bitrix24.OAuth;

/// <summary>
/// The seam between the REST client and the server's portal store. Portals are keyed by
/// <c>member_id</c>, never by domain (a portal can be renamed). Implementations must be safe for
/// concurrent use; the client guarantees at most one refresh per portal at a time in this process.
/// </summary>
public interface IPortalCredentials
{
    /// <summary>The portal's stored client endpoint and token pair; null when the portal is unknown.</summary>
    ValueTask<PortalCredentials?> GetAsync(string memberId, CancellationToken cancellationToken);

    /// <summary>Stores a refreshed pair. The client calls this and waits for it to finish BEFORE it
    /// uses the new access token: the refresh token rotates, so a pair that is used but not stored is
    /// lost at the next crash (then <c>invalid_grant</c>). Called with <see cref="CancellationToken.None"/>
    /// once the OAuth server has answered.</summary>
    ValueTask SaveTokensAsync(string memberId, PortalTokens tokens, CancellationToken cancellationToken);

    /// <summary>Records that the portal moved: its old host answered 302 with this new client endpoint
    /// (EN-docs settings/how-to-call-rest-api/change-domen.md).</summary>
    ValueTask RecordEndpointChangeAsync(string memberId, Uri newClientEndpoint, CancellationToken cancellationToken);

    /// <summary>Marks the portal as needing re-authorisation (the OAuth server said <c>invalid_grant</c>).
    /// Until the store clears the mark, <see cref="GetAsync"/> should return <see cref="PortalCredentials.NeedsReauthorisation"/> true.</summary>
    ValueTask MarkNeedsReauthorisationAsync(string memberId, string reason, CancellationToken cancellationToken);
}

/// <summary>A token pair from the OAuth server.</summary>
/// <param name="AccessToken">The access token (1 hour).</param>
/// <param name="RefreshToken">The new refresh token (180 days); the old one is dead once this is issued.</param>
/// <param name="ExpiresAt">The <c>expires</c> time, when sent. For information only: the client refreshes on <c>expired_token</c>, never on a timer.</param>
public sealed record PortalTokens(string AccessToken, string RefreshToken, DateTimeOffset? ExpiresAt)
{
    /// <summary>Never prints a token.</summary>
    public override string ToString() => $"PortalTokens {{ ExpiresAt = {ExpiresAt:O} }}";
}

/// <summary>What the REST client needs to call one portal.</summary>
/// <param name="MemberId">The portal's <c>member_id</c>.</param>
/// <param name="ClientEndpoint">The portal's REST root as stored at a verified install, e.g. <c>https://portal.bitrix24.com/rest/</c>.</param>
/// <param name="AccessToken">The current access token.</param>
/// <param name="RefreshToken">The current refresh token.</param>
public sealed record PortalCredentials(string MemberId, Uri ClientEndpoint, string AccessToken, string RefreshToken)
{
    /// <summary>True when an earlier refresh met <c>invalid_grant</c>; the client then sends nothing.</summary>
    public bool NeedsReauthorisation { get; init; }

    /// <summary>The portal's own rate limit, when the store knows its plan (Enterprise: 5/s, burst 250);
    /// null uses <see cref="Rest.Bitrix24RestOptions.RequestsPerSecond"/> and <see cref="Rest.Bitrix24RestOptions.Burst"/>.</summary>
    public Limits.RateLimit? RateLimit { get; init; }

    /// <summary>Never prints a token.</summary>
    public override string ToString() =>
        $"PortalCredentials {{ MemberId = {MemberId}, ClientEndpoint = {ClientEndpoint}, NeedsReauthorisation = {NeedsReauthorisation} }}";
}
