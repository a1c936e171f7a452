using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Switchboard.Bitrix24.OAuth;
using Switchboard.Bitrix24.Rest;

namespace Switchboard.Portals;

/// <summary>What the OAuth server said about an install's or a token change's refresh token.</summary>
public enum ProofOutcome
{
    /// <summary>The server exchanged the refresh token for this portal: a genuine install of this application.</summary>
    Proven,

    /// <summary>The server refused the token, or issued it for another portal: not this portal's install.</summary>
    Refused,

    /// <summary>The server could not be asked (no client credentials, timeout, 5xx, our own credentials refused): neither.</summary>
    Unverifiable,
}

/// <summary>The outcome of a check, the grant when proven (what the portal is created from), and why, in words for an operator.</summary>
public sealed record InstallProof(ProofOutcome Outcome, OAuthGrant? Grant, string Reason);

/// <summary>
/// Proves an install or a token change at the OAuth server (https://apidocs.bitrix24.com/settings/oauth/index.html;
/// settings/oauth/auto-renewal.md): the event's refresh token is exchanged with Switchboard's client
/// credentials, which only a genuine install of this application can pass, and the answer names the
/// portal's member_id and client_endpoint. The event's own text is never trusted for either.
/// </summary>
public interface IInstallVerifier
{
    /// <summary>Checks the refresh token in <paramref name="auth"/> for the portal <paramref name="memberId"/>,
    /// whose event carried the application token with hex SHA-256 <paramref name="tokenHash"/>.</summary>
    ValueTask<InstallProof> ProveAsync(string memberId, string tokenHash, Bitrix24.Events.EventAuth auth, CancellationToken cancellationToken);
}

/// <summary>
/// <see cref="IInstallVerifier"/> at the configured OAuth server, with what keeps a flood of forged
/// installs and updates cheap: one check in flight per portal (copies of the same event share it), a
/// refusal remembered per portal and application token for <see cref="InstallOptions.RefusalMemory"/>,
/// and a proven exchange remembered by its refresh token, so a repeated delivery (or a retry after the
/// journal could not commit) does not meet the spent token. The checks use their own connection pool
/// and never the portal's REST budget, so they cannot delay a portal's calls.
/// </summary>
public sealed partial class OAuthInstallVerifier(
    OAuthServerClient oauth,
    IOptionsMonitor<InstallOptions> options,
    TimeProvider time,
    ILogger<OAuthInstallVerifier> logger) : IInstallVerifier
{
    private const int MaxRemembered = 10_000;
    private static readonly TimeSpan ProvenMemory = TimeSpan.FromMinutes(10);

    // One check at a time per portal. Striped, so member ids from requests cannot grow a dictionary of
    // gates: two portals rarely share a stripe, and then only take turns.
    private readonly SemaphoreSlim[] _gates = [.. Enumerable.Range(0, 256).Select(_ => new SemaphoreSlim(1, 1))];
    private readonly ConcurrentDictionary<string, Task<InstallProof>> _inFlight = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _refused = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (InstallProof Proof, DateTimeOffset Until)> _proven = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    public async ValueTask<InstallProof> ProveAsync(string memberId, string tokenHash, Bitrix24.Events.EventAuth auth, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(auth);
        if (string.IsNullOrEmpty(auth.RefreshToken))
        {
            // ONAPPINSTALL and ONAPPUPDATE carry refresh_token (https://apidocs.bitrix24.com/api-reference/events/index.html).
            return new InstallProof(ProofOutcome.Refused, null, "The event has no auth[refresh_token], which Switchboard exchanges at the OAuth server to prove it.");
        }

        if (!oauth.IsConfigured)
        {
            return new InstallProof(ProofOutcome.Unverifiable, null,
                $"Switchboard's client credentials are not set ({Bitrix24RestOptions.SectionName}:ClientId, ClientSecret, OAuthServer), so the OAuth server cannot be asked.");
        }

        var refreshKey = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(auth.RefreshToken)));
        var refusalKey = memberId + ":" + tokenHash;
        if (Remembered(memberId, refreshKey, refusalKey) is { } known)
        {
            return known;
        }

        var key = refusalKey + ":" + refreshKey;
        var mine = new TaskCompletionSource<InstallProof>(TaskCreationOptions.RunContinuationsAsynchronously);
        var shared = _inFlight.GetOrAdd(key, mine.Task);
        if (shared != mine.Task)
        {
            return await shared.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        try
        {
            var proof = await CheckAsync(memberId, auth.RefreshToken, refreshKey, refusalKey).ConfigureAwait(false);
            mine.SetResult(proof);
            return proof;
        }
        catch (Exception ex)
        {
            mine.SetException(ex);
            throw;
        }
        finally
        {
            _inFlight.TryRemove(new KeyValuePair<string, Task<InstallProof>>(key, mine.Task));
        }
    }

    // Not the caller's token: other requests may be waiting on this check, which must not fail
    // because the first caller hung up. Both waits are bounded by VerifyTimeout instead.
    private async Task<InstallProof> CheckAsync(string memberId, string refreshToken, string refreshKey, string refusalKey)
    {
        var o = options.CurrentValue;
        var gate = _gates[(uint)StringComparer.Ordinal.GetHashCode(memberId) % (uint)_gates.Length];
        if (!await gate.WaitAsync(o.VerifyTimeout).ConfigureAwait(false))
        {
            return new InstallProof(ProofOutcome.Unverifiable, null, "Other checks of this portal at the OAuth server did not finish in time.");
        }

        try
        {
            // The check before this one may have been the same token's.
            if (Remembered(memberId, refreshKey, refusalKey) is { } known)
            {
                return known;
            }

            var result = await oauth.ExchangeAsync(refreshToken, o.VerifyTimeout).ConfigureAwait(false);
            var proof = Judge(memberId, result);
            var now = time.GetUtcNow();
            switch (proof.Outcome)
            {
                case ProofOutcome.Proven:
                    Remember(_proven, refreshKey, (proof, now + ProvenMemory));
                    break;
                case ProofOutcome.Refused when o.RefusalMemory > TimeSpan.Zero:
                    Remember(_refused, refusalKey, now + o.RefusalMemory);
                    break;
                case ProofOutcome.Unverifiable:
                    LogUnverifiable(logger, memberId, proof.Reason);
                    break;
            }

            return proof;
        }
        finally
        {
            gate.Release();
        }
    }

    private static InstallProof Judge(string memberId, RestResult<OAuthGrant> result)
    {
        if (result.IsSuccess)
        {
            var grant = result.Value;
            if (!string.Equals(grant.MemberId, memberId, StringComparison.OrdinalIgnoreCase))
            {
                return new InstallProof(ProofOutcome.Refused, null, "The OAuth server issued this refresh token for another portal (member_id differs).");
            }

            return Uri.TryCreate(grant.ClientEndpoint, UriKind.Absolute, out _)
                ? new InstallProof(ProofOutcome.Proven, grant, "The OAuth server exchanged the refresh token for this portal.")
                : new InstallProof(ProofOutcome.Unverifiable, null, "The OAuth server's answer names no client_endpoint.");
        }

        // RestError texts hold codes and descriptions only, never a token or the secret.
        var error = result.Error;
        return error.Kind switch
        {
            RestErrorKind.InvalidGrant => new InstallProof(ProofOutcome.Refused, null, $"The OAuth server refused the refresh token ({error.Code})."),

            // invalid_client: Switchboard's own credentials are wrong, which says nothing about the sender.
            RestErrorKind.OAuthRefused when !string.Equals(error.Code, "invalid_client", StringComparison.OrdinalIgnoreCase)
                => new InstallProof(ProofOutcome.Refused, null, $"The OAuth server refused the refresh token ({error.Code})."),
            _ => new InstallProof(ProofOutcome.Unverifiable, null, $"The OAuth server could not be asked ({error.Code})."),
        };
    }

    private InstallProof? Remembered(string memberId, string refreshKey, string refusalKey)
    {
        var now = time.GetUtcNow();

        // Only for the portal it was proven for: the same refresh token under another member_id proves nothing.
        if (_proven.TryGetValue(refreshKey, out var proven) && proven.Until > now
            && string.Equals(proven.Proof.Grant?.MemberId, memberId, StringComparison.OrdinalIgnoreCase))
        {
            return proven.Proof;
        }

        if (_refused.TryGetValue(refusalKey, out var until) && until > now)
        {
            return new InstallProof(ProofOutcome.Refused, null, "The OAuth server refused this portal's change to this application token a moment ago.");
        }

        return null;
    }

    // Keys come from requests: bounded, and dropped wholesale when full (forgetting only costs a check).
    private static void Remember<T>(ConcurrentDictionary<string, T> map, string key, T value)
    {
        if (map.Count >= MaxRemembered)
        {
            map.Clear();
        }

        map[key] = value;
    }

    [LoggerMessage(EventId = 3200, Level = LogLevel.Warning, Message = "Could not check an install or token change of portal {MemberId} at the OAuth server: {Reason}")]
    private static partial void LogUnverifiable(ILogger logger, string memberId, string reason);
}

/// <summary>
/// Bounds the checks at the OAuth server in progress, per sender address and in total
/// (<see cref="InstallOptions.MaxPendingPerSender"/>, <see cref="InstallOptions.MaxPending"/>): a
/// sender over its bound is answered 429 at once, so one sender cannot occupy the checks a portal's
/// own install or update needs.
/// </summary>
public sealed class VerificationAdmission(IOptionsMonitor<InstallOptions> options)
{
    private readonly ConcurrentDictionary<string, int> _bySender = new(StringComparer.Ordinal);
    private int _total;

    /// <summary>Checks in progress now.</summary>
    public int Pending => Volatile.Read(ref _total);

    /// <summary>A lease to dispose when the check is done, or null when <paramref name="sender"/> or everyone is over the bound.</summary>
    public IDisposable? TryEnter(string sender)
    {
        ArgumentNullException.ThrowIfNull(sender);
        var o = options.CurrentValue;
        if (Interlocked.Increment(ref _total) > o.MaxPending)
        {
            Interlocked.Decrement(ref _total);
            return null;
        }

        var mine = _bySender.AddOrUpdate(sender, 1, (_, n) => n + 1);
        if (mine > o.MaxPendingPerSender)
        {
            Leave(sender);
            return null;
        }

        return new Lease(this, sender);
    }

    private void Leave(string sender)
    {
        // Remove the sender's entry when it drops to zero, so addresses do not accumulate.
        while (true)
        {
            if (!_bySender.TryGetValue(sender, out var n))
            {
                break;
            }

            if (n <= 1)
            {
                if (_bySender.TryRemove(new KeyValuePair<string, int>(sender, n)))
                {
                    break;
                }
            }
            else if (_bySender.TryUpdate(sender, n - 1, n))
            {
                break;
            }
        }

        Interlocked.Decrement(ref _total);
    }

    private sealed class Lease(VerificationAdmission owner, string sender) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                owner.Leave(sender);
            }
        }
    }
}
