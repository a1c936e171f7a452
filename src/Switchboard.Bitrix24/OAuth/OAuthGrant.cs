using Switchboard.Bitrix24.Rest;

namespace Switchboard.Bitrix24.OAuth;

/// <summary>
/// The OAuth server's answer to a refresh (EN-docs settings/oauth/auto-renewal.md): the new pair and
/// the portal it was issued for. Only the OAuth server can name these for a refresh token, so they
/// are what an install is trusted on, never what the event said.
/// </summary>
/// <param name="Tokens">The new pair; the refresh token that was exchanged is spent.</param>
/// <param name="MemberId">The portal's <c>member_id</c>.</param>
/// <param name="ClientEndpoint">The portal's REST root, e.g. <c>https://portal.bitrix24.com/rest/</c>.</param>
/// <param name="ServerEndpoint">The OAuth server's REST root.</param>
/// <param name="Scope">Comma list of granted scopes.</param>
/// <param name="Status">The application's status letter.</param>
/// <param name="UserId">The user the pair belongs to.</param>
public sealed record OAuthGrant(PortalTokens Tokens, string? MemberId, string? ClientEndpoint, string? ServerEndpoint, string? Scope, string? Status, long? UserId)
{
    /// <summary>Never prints a token.</summary>
    public override string ToString() => $"OAuthGrant {{ MemberId = {MemberId}, ClientEndpoint = {ClientEndpoint}, Status = {Status} }}";
}

/// <summary>
/// Exchanges a refresh token at the configured OAuth server with the application's client
/// credentials (<see cref="Bitrix24RestOptions.ClientId"/>, <see cref="Bitrix24RestOptions.ClientSecret"/>):
/// only a genuine install of this application holds a refresh token the server accepts, so a grant
/// proves an install or a token change. The client secret appears in no error or log line.
/// </summary>
public sealed class OAuthServerClient
{
    private readonly OAuthTokenClient _client;
    private readonly Bitrix24RestOptions _options;

    /// <summary>A client over <paramref name="http"/> (built by <see cref="Bitrix24HttpClientFactory"/>, so the outbound guard applies).</summary>
    public OAuthServerClient(HttpClient http, Bitrix24RestOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _client = new OAuthTokenClient(http, options, time ?? TimeProvider.System);
    }

    /// <summary>True when client id, secret and server are set, so a refresh token can be exchanged at all.</summary>
    public bool IsConfigured => _options.Problems().Count == 0;

    /// <summary>
    /// Exchanges <paramref name="refreshToken"/> for a new pair, waiting at most <paramref name="timeout"/>
    /// for the server. A failure is a <see cref="RestError"/>: <see cref="RestErrorKind.InvalidGrant"/>
    /// when the server refused the token, other kinds when it could not be asked.
    /// </summary>
    public Task<RestResult<OAuthGrant>> ExchangeAsync(string refreshToken, TimeSpan timeout)
    {
        ArgumentException.ThrowIfNullOrEmpty(refreshToken);
        return _client.ExchangeAsync(refreshToken, timeout);
    }
}
