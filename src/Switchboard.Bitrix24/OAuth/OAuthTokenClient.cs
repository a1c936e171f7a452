using System.Text;
using System.Text.Json;
using Switchboard.Bitrix24.Rest;

namespace Switchboard.Bitrix24.OAuth;

/// <summary>
/// Refreshes a token pair at the configured OAuth server (EN-docs settings/oauth/auto-renewal.md):
/// <c>GET &lt;oauth&gt;/oauth/token/?grant_type=refresh_token&amp;client_id=…&amp;client_secret=…&amp;refresh_token=…</c>,
/// as the SDK's <c>ApiClient::getNewAuthToken</c> does. Errors arrive as <c>{"error", "error_description"}</c>
/// (EN-docs settings/oauth/error-codes.md). The URL holds the client secret, so it appears in no
/// log line and no error: failures are described by code only.
/// </summary>
internal sealed class OAuthTokenClient(HttpClient http, Bitrix24RestOptions options, TimeProvider time)
{
    public async Task<RestResult<PortalTokens>> RefreshAsync(string refreshToken)
    {
        var grant = await ExchangeAsync(refreshToken, options.AttemptTimeout).ConfigureAwait(false);
        return grant.IsSuccess ? RestResult<PortalTokens>.Success(grant.Value.Tokens) : RestResult<PortalTokens>.Failure(grant.Error);
    }

    /// <summary>The whole answer of a refresh: the new pair and whom the OAuth server issued it for (https://apidocs.bitrix24.com/settings/oauth/index.html).</summary>
    public async Task<RestResult<OAuthGrant>> ExchangeAsync(string refreshToken, TimeSpan attemptTimeout)
    {
        var server = options.OAuthServer;
        if (server.Scheme != Uri.UriSchemeHttps && !(options.AllowInsecureHttp && server.Scheme == Uri.UriSchemeHttp))
        {
            return Fail(RestErrorKind.DestinationRefused, "INSECURE_ENDPOINT", "the OAuth server is not https", null);
        }

        var query = new StringBuilder("oauth/token/?grant_type=refresh_token");
        Append(query, "client_id", options.ClientId);
        Append(query, "client_secret", options.ClientSecret);
        Append(query, "refresh_token", refreshToken);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(server, query.ToString()));
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.UserAgent.ParseAdd(options.UserAgent);

        // Not the caller's token: once the OAuth server has rotated the pair, the answer must be read
        // and stored even if the caller gave up, or the portal is locked out (invalid_grant next time).
        using var timeout = new CancellationTokenSource(attemptTimeout, time);
        int status;
        byte[] body;
        try
        {
            using var response = await http.SendAsync(request, timeout.Token).ConfigureAwait(false);
            status = (int)response.StatusCode;
            body = await response.Content.ReadAsByteArrayAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return Fail(RestErrorKind.Timeout, "TIMEOUT", "the OAuth server did not answer in time", null);
        }
        catch (HttpRequestException e) when (e.InnerException is DestinationRefusedException refused)
        {
            return Fail(RestErrorKind.DestinationRefused, "DESTINATION_REFUSED", refused.Message, null);
        }
        catch (HttpRequestException e)
        {
            return Fail(RestErrorKind.ConnectionFailed, "CONNECTION_FAILED", $"OAuth server: {e.HttpRequestError}", null);
        }
        catch (IOException)
        {
            return Fail(RestErrorKind.ConnectionFailed, "CONNECTION_FAILED", "OAuth server: connection lost", null);
        }

        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(body);
            root = doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            return status >= 500
                ? Fail(RestErrorKind.ServerError, $"HTTP_{status}", "OAuth server answered without JSON", status)
                : Fail(RestErrorKind.InvalidResponse, $"HTTP_{status}", "OAuth server answered without JSON", status);
        }

        if (JsonRead.String(root, "error") is { Length: > 0 } code)
        {
            // SDK ApiLevelErrorHandler::handleOAuthError: 400 + invalid_grant (or bad_verification_code) → InvalidGrant.
            var kind = code is "invalid_grant" or "bad_verification_code" ? RestErrorKind.InvalidGrant
                : status >= 500 ? RestErrorKind.ServerError
                : RestErrorKind.OAuthRefused;
            return Fail(kind, code, JsonRead.String(root, "error_description"), status);
        }

        var access = JsonRead.String(root, "access_token");
        var refresh = JsonRead.String(root, "refresh_token");
        if (string.IsNullOrEmpty(access) || string.IsNullOrEmpty(refresh))
        {
            return status >= 500
                ? Fail(RestErrorKind.ServerError, $"HTTP_{status}", "OAuth server answered without a token pair", status)
                : Fail(RestErrorKind.InvalidResponse, $"HTTP_{status}", "OAuth server answered without a token pair", status);
        }

        // An absurd "expires" (beyond year 9999) would throw: unknown instead.
        DateTimeOffset? expires = JsonRead.Long(root, "expires") is { } unix and > 0 and < 253_402_300_799 ? DateTimeOffset.FromUnixTimeSeconds(unix) : null;
        return RestResult<OAuthGrant>.Success(new OAuthGrant(
            new PortalTokens(access, refresh, expires),
            JsonRead.String(root, "member_id"),
            JsonRead.String(root, "client_endpoint"),
            JsonRead.String(root, "server_endpoint"),
            JsonRead.String(root, "scope"),
            JsonRead.String(root, "status"),
            JsonRead.Long(root, "user_id")));
    }

    private static void Append(StringBuilder sb, string key, string value) =>
        sb.Append('&').Append(key).Append('=').Append(Uri.EscapeDataString(value));

    private static RestResult<OAuthGrant> Fail(RestErrorKind kind, string code, string? description, int? status) =>
        RestResult<OAuthGrant>.Failure(new RestError(kind, code, description, status));
}
