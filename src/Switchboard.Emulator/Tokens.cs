using System.Security.Cryptography;

namespace Switchboard.Emulator;

/// <summary>An access/refresh pair the emulator issued.</summary>
public sealed record TokenPair(string AccessToken, string RefreshToken, long UserId, DateTimeOffset Expires);

/// <summary>Another portal the OAuth server answers for (see <see cref="PortalEmulator.RegisterPortalGrant"/>).</summary>
internal sealed record GrantPortal(string MemberId, string ClientEndpoint);

/// <summary>The result of looking up an access token.</summary>
internal enum TokenCheck { Valid, Expired, Unknown }

/// <summary>Issued access and refresh tokens. Refresh rotates: the old refresh token stops working.</summary>
internal sealed class TokenStore(EmulatorOptions options, TimeProvider time)
{
    private readonly Lock _sync = new();
    private readonly Dictionary<string, TokenPair> _byAccess = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TokenPair> _byRefresh = new(StringComparer.Ordinal);
    private readonly Dictionary<string, GrantPortal> _foreign = new(StringComparer.Ordinal);

    public static string NewToken() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    public TokenPair Issue(long userId)
    {
        var pair = new TokenPair(NewToken(), NewToken(), userId, time.GetUtcNow() + options.AccessTokenLifetime);
        lock (_sync)
        {
            _byAccess[pair.AccessToken] = pair;
            _byRefresh[pair.RefreshToken] = pair;
        }

        return pair;
    }

    public (TokenCheck Check, TokenPair? Pair) Check(string? accessToken)
    {
        if (string.IsNullOrEmpty(accessToken))
        {
            return (TokenCheck.Unknown, null);
        }

        lock (_sync)
        {
            if (!_byAccess.TryGetValue(accessToken, out var pair))
            {
                return (TokenCheck.Unknown, null);
            }

            return time.GetUtcNow() >= pair.Expires ? (TokenCheck.Expired, pair) : (TokenCheck.Valid, pair);
        }
    }

    /// <summary>Registers a pair that belongs to another portal: its refresh answers with that portal's member_id and endpoint.</summary>
    public void Register(TokenPair pair, GrantPortal portal)
    {
        lock (_sync)
        {
            _byAccess[pair.AccessToken] = pair;
            _byRefresh[pair.RefreshToken] = pair;
            _foreign[pair.RefreshToken] = portal;
        }
    }

    /// <summary>The other portal a refresh token belongs to, or null for this emulator's own portal.</summary>
    public GrantPortal? PortalOf(string refreshToken)
    {
        lock (_sync)
        {
            return _foreign.GetValueOrDefault(refreshToken);
        }
    }

    /// <summary>Swaps a refresh token for a new pair; the old refresh token is spent (EN-docs auto-renewal.md: "store it and drop the old one").</summary>
    public TokenPair? Refresh(string refreshToken)
    {
        lock (_sync)
        {
            if (!_byRefresh.Remove(refreshToken, out var old))
            {
                return null;
            }

            // The old access token keeps working until it expires, as the cloud does not revoke it (inference).
            var pair = new TokenPair(NewToken(), NewToken(), old.UserId, time.GetUtcNow() + options.AccessTokenLifetime);
            _byAccess[pair.AccessToken] = pair;
            _byRefresh[pair.RefreshToken] = pair;
            if (_foreign.Remove(refreshToken, out var portal))
            {
                _foreign[pair.RefreshToken] = portal;
            }

            return pair;
        }
    }
}
