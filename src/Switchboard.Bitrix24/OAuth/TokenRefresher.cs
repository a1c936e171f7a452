using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Switchboard.Bitrix24.Rest;

namespace Switchboard.Bitrix24.OAuth;

/// <summary>
/// One refresh per portal at a time, however many calls met <c>expired_token</c> together. Concurrent
/// refreshes are what invalidate each other in the field (FIELD-LESSONS #9): the refresh token
/// rotates, so the second refresh with the old one gets <c>invalid_grant</c>. Callers queue on a
/// per-portal gate; the first refreshes and stores the pair, the rest find the stored access token
/// no longer the one that expired and reuse the new pair without a second refresh.
/// </summary>
internal sealed class TokenRefresher(OAuthTokenClient oauth, IPortalCredentials portals, ILogger logger)
{
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _gates = new(StringComparer.Ordinal);

    public async Task<RestResult<PortalCredentials>> RefreshAsync(string memberId, string expiredAccessToken, CancellationToken cancellationToken)
    {
        var gate = _gates.GetOrAdd(memberId, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var current = await portals.GetAsync(memberId, cancellationToken).ConfigureAwait(false);
            if (current is null)
            {
                return RestResult<PortalCredentials>.Failure(new RestError(RestErrorKind.PortalUnknown, "PORTAL_UNKNOWN", null, null));
            }

            if (current.NeedsReauthorisation)
            {
                return RestResult<PortalCredentials>.Failure(new RestError(RestErrorKind.NeedsReauthorisation, "NEEDS_REAUTHORISATION", "the portal must be authorised again", null));
            }

            if (!string.Equals(current.AccessToken, expiredAccessToken, StringComparison.Ordinal))
            {
                return RestResult<PortalCredentials>.Success(current); // someone else refreshed while we queued
            }

            var refreshed = await oauth.RefreshAsync(current.RefreshToken).ConfigureAwait(false);
            if (!refreshed.IsSuccess)
            {
                RestLog.RefreshFailed(logger, memberId, refreshed.Error.Code);
                if (refreshed.Error.Kind == RestErrorKind.InvalidGrant)
                {
                    await portals.MarkNeedsReauthorisationAsync(memberId, "invalid_grant", CancellationToken.None).ConfigureAwait(false);
                    RestLog.NeedsReauthorisation(logger, memberId);
                }

                return RestResult<PortalCredentials>.Failure(refreshed.Error);
            }

            // Stored before anyone uses it; CancellationToken.None because the old pair is already dead.
            await portals.SaveTokensAsync(memberId, refreshed.Value, CancellationToken.None).ConfigureAwait(false);
            RestLog.TokenRefreshed(logger, memberId);
            return RestResult<PortalCredentials>.Success(current with
            {
                AccessToken = refreshed.Value.AccessToken,
                RefreshToken = refreshed.Value.RefreshToken,
            });
        }
        finally
        {
            gate.Release();
        }
    }
}
