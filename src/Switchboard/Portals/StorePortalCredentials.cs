using Switchboard.Bitrix24.OAuth;
using Switchboard.Journal;
using Switchboard.Storage;

namespace Switchboard.Portals;

/// <summary>
/// The REST client's view of the portals, over the journal store: the endpoint and tokens stored at
/// a verified install, refreshed pairs written durably before they are used, a renamed portal's new
/// address, and the invalid_grant mark that <c>portals list</c> shows. Tokens that do not decrypt with
/// this instance's key ring are reported once per portal and listed in <see cref="UnreadableTokens"/>.
/// </summary>
public sealed partial class StorePortalCredentials(IJournalStore store, PortalDirectory portals, UnreadableTokens unreadable, ILogger<StorePortalCredentials> logger) : IPortalCredentials
{
    /// <inheritdoc/>
    /// <exception cref="PortalTokensUnreadableException">The stored tokens do not decrypt with this key ring.</exception>
    public async ValueTask<PortalCredentials?> GetAsync(string memberId, CancellationToken cancellationToken)
    {
        StoredCredentials? stored;
        try
        {
            stored = await store.GetPortalCredentialsAsync(memberId, cancellationToken).ConfigureAwait(false);
        }
        catch (PortalTokensUnreadableException ex)
        {
            if (unreadable.Mark(memberId))
            {
                LogUnreadable(logger, memberId, ex.KeyRingFolder);
            }

            throw;
        }

        if (unreadable.Clear(memberId))
        {
            LogReadable(logger, memberId);
        }

        return stored is null || !Uri.TryCreate(stored.ClientEndpoint, UriKind.Absolute, out var endpoint)
            ? null
            : new PortalCredentials(memberId, endpoint, stored.AccessToken, stored.RefreshToken)
            {
                NeedsReauthorisation = stored.NeedsReauthorisation is not null,
            };
    }

    /// <summary>
    /// Tries every installed portal's stored tokens once, at start, so that a wrong key ring shows in
    /// <c>/readyz</c> and the log before any work meets it; returns how many do not decrypt.
    /// </summary>
    public async Task<int> CheckStoredAsync(CancellationToken cancellationToken)
    {
        var count = 0;
        foreach (var portal in await store.ListPortalsAsync(cancellationToken).ConfigureAwait(false))
        {
            if (portal is { State: PortalState.Installed, HasOAuthTokens: true })
            {
                try
                {
                    await GetAsync(portal.MemberId, cancellationToken).ConfigureAwait(false);
                }
                catch (PortalTokensUnreadableException)
                {
                    count++;
                }
            }
        }

        return count;
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

    [LoggerMessage(EventId = 3040, Level = LogLevel.Error, Message = "The stored tokens of portal {MemberId} cannot be decrypted with the key ring in {KeyRingFolder}: its Bitrix24 work waits. Point Switchboard:Store:KeyRingDirectory at the key ring that encrypted them (instances on one database share one), or install the application on the portal again")]
    private static partial void LogUnreadable(ILogger logger, string memberId, string keyRingFolder);

    [LoggerMessage(EventId = 3041, Level = LogLevel.Information, Message = "The stored tokens of portal {MemberId} decrypt again: its Bitrix24 work resumes")]
    private static partial void LogReadable(ILogger logger, string memberId);
}
