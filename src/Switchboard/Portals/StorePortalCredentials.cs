using Switchboard.Bitrix24.OAuth;
using Switchboard.Journal;

namespace Switchboard.Portals;

/// <summary>
/// The REST client's view of the portals, over the journal store: the endpoint and tokens stored at
/// a verified install, refreshed pairs written durably before they are used, a renamed portal's new
/// address, and the invalid_grant mark that <c>portals list</c> shows.
/// </summary>
public sealed class StorePortalCredentials(IJournalStore store, PortalDirectory portals) : IPortalCredentials
{
    /// <inheritdoc/>
    public async ValueTask<PortalCredentials?> GetAsync(string memberId, CancellationToken cancellationToken)
    {
        var stored = await store.GetPortalCredentialsAsync(memberId, cancellationToken).ConfigureAwait(false);
        return stored is null || !Uri.TryCreate(stored.ClientEndpoint, UriKind.Absolute, out var endpoint)
            ? null
            : new PortalCredentials(memberId, endpoint, stored.AccessToken, stored.RefreshToken)
            {
                NeedsReauthorisation = stored.NeedsReauthorisation is not null,
            };
    }

    /// <inheritdoc/>
    public async ValueTask SaveTokensAsync(string memberId, Bitrix24.OAuth.PortalTokens tokens, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        await store.SavePortalTokensAsync(memberId, tokens.AccessToken, tokens.RefreshToken, tokens.ExpiresAt, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask RecordEndpointChangeAsync(string memberId, Uri newClientEndpoint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(newClientEndpoint);
        var domain = newClientEndpoint.IsDefaultPort ? newClientEndpoint.IdnHost : $"{newClientEndpoint.IdnHost}:{newClientEndpoint.Port}";
        await store.SetPortalEndpointAsync(memberId, newClientEndpoint.ToString(), domain, cancellationToken).ConfigureAwait(false);
        portals.Invalidate(memberId);
    }

    /// <inheritdoc/>
    public async ValueTask MarkNeedsReauthorisationAsync(string memberId, string reason, CancellationToken cancellationToken) =>
        await store.MarkPortalNeedsReauthAsync(memberId, reason, cancellationToken).ConfigureAwait(false);
}
