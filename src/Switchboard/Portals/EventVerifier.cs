using System.Security.Cryptography;
using System.Text;
using Switchboard.Bitrix24.Events;
using Switchboard.Journal;

namespace Switchboard.Portals;

/// <summary>Why an event was not accepted.</summary>
public enum Rejection
{
    /// <summary>No auth[member_id], or one that cannot be a member id.</summary>
    NoPortal,
    /// <summary>No auth[application_token].</summary>
    NoToken,
    /// <summary>No portal with this member_id is installed.</summary>
    UnknownPortal,
    /// <summary>The portal was uninstalled.</summary>
    Uninstalled,
    /// <summary>The token is not this portal's.</summary>
    WrongToken,
    /// <summary>An install (or token-changing update) outside the install policy, or not confirmed by the portal.</summary>
    InstallRefused,
    /// <summary>The portal refused the tokens of its current install (the install flow's verify step): not the portal's install.</summary>
    NotVerified,
    /// <summary>A token change that the portal could not be asked to confirm right now (answered 503, nothing stored).</summary>
    PortalUnreachable,
    /// <summary>Too many checks at the OAuth server in progress for this sender or in total, or too many unverified installs kept (answered 429, nothing stored).</summary>
    TooManyPending,
}

/// <summary>The verdict on one event: either what to append, or why not.</summary>
public sealed record Verdict(PortalGuard? Guard, PortalChange? Change, Rejection? Rejection, string? Reason)
{
    /// <summary>Accepted.</summary>
    public bool Accepted => Rejection is null;

    /// <summary>For a <see cref="PortalGuard.DuplicateOnly"/> verdict: the rejection when the journal does not hold the event.</summary>
    public (Rejection Rejection, string Reason)? UnlessDuplicate { get; init; }

    internal static Verdict Accept(PortalGuard guard, PortalChange? change = null) => new(guard, change, null, null);

    internal static Verdict Reject(Rejection rejection, string reason) => new(null, null, rejection, reason);
}

/// <summary>
/// Proves an event comes from an installed portal: its <c>auth[member_id]</c> names an installed
/// portal and its <c>auth[application_token]</c> is that portal's (REFERENCE.md §2.1; the SDK's
/// RemoteEventsFactory::validate does the same). Tokens are compared as SHA-256 digests in constant
/// time, so neither their content nor their length leaks through timing.
/// </summary>
public sealed class EventVerifier(
    PortalDirectory portals,
    InstallPolicy policy,
    IInstallVerifier installVerifier,
    VerificationAdmission admission,
    IJournalStore store,
    Microsoft.Extensions.Options.IOptionsMonitor<InstallOptions> installOptions,
    TimeProvider time)
{
    /// <summary>The beginning of <see cref="Portal.InstallRefused"/> for an install kept pending until it is proven.</summary>
    public const string PendingPrefix = "Pending: ";

    /// <summary>Decides on one event from a sender this process cannot tell apart.</summary>
    public ValueTask<Verdict> VerifyAsync(Bitrix24Event ev, CancellationToken cancellationToken) => VerifyAsync(ev, "local", cancellationToken);

    /// <summary>Decides on one event; <paramref name="sender"/> (its address) bounds the checks it may have in progress.</summary>
    public async ValueTask<Verdict> VerifyAsync(Bitrix24Event ev, string sender, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ev);
        var auth = ev.Auth;
        if (!IsMemberId(auth.MemberId))
        {
            return Verdict.Reject(Rejection.NoPortal, "The event has no valid auth[member_id].");
        }

        if (string.IsNullOrEmpty(auth.ApplicationToken))
        {
            return Verdict.Reject(Rejection.NoToken, "The event has no auth[application_token].");
        }

        var memberId = auth.MemberId!;
        var digest = SHA256.HashData(Encoding.UTF8.GetBytes(auth.ApplicationToken));
        var hash = Convert.ToHexStringLower(digest);

        if (ev is AppInstallEvent install)
        {
            return await VerifyInstallAsync(install, memberId, hash, digest, sender, cancellationToken).ConfigureAwait(false);
        }

        // Accept on a cached entry; reject only on a fresh read (a cache must never lose an event).
        var portal = await portals.FindAsync(memberId, fresh: false, cancellationToken).ConfigureAwait(false);
        if (!Matches(portal, digest))
        {
            portal = await portals.FindAsync(memberId, fresh: true, cancellationToken).ConfigureAwait(false);
        }

        if (portal is null)
        {
            return Verdict.Reject(Rejection.UnknownPortal, "No installed portal has this auth[member_id].");
        }

        if (portal.State != PortalState.Installed)
        {
            // A copy of the uninstall itself, with the token it was verified with: a retry, or one of
            // several identical deliveries that arrived after the first committed. Passed to the journal
            // only to be answered as the duplicate it is (RELIABILITY.md, Dedup: "all 2xx"): the store
            // never inserts it, and refuses it (401) if the journal does not hold that very event.
            if (ev is AppUninstallEvent && DigestEquals(portal.UninstalledTokenHash, digest))
            {
                return Verdict.Accept(PortalGuard.DuplicateOnly);
            }

            return Verdict.Reject(Rejection.Uninstalled, "The portal has uninstalled Switchboard.");
        }

        if (portal.InstallRefused is not null)
        {
            // The install passed the domain policy, but the portal itself refused its tokens (app.info in
            // the install flow, REFERENCE.md §2.1: "first checking the access_token with a REST call"):
            // whoever sent it is not the portal, so neither its application token nor a "rotated" one
            // from an ONAPPUPDATE may inject events. Only a new install that the portal confirms lifts this.
            return Verdict.Reject(Rejection.NotVerified, "The portal did not confirm this install's tokens; events are refused until an install is verified.");
        }

        if (Matches(portal, digest))
        {
            return ev switch
            {
                AppUpdateEvent update => Verdict.Accept(PortalGuard.Token(hash), UpdateOf(update, memberId, hash)),
                AppUninstallEvent => Verdict.Accept(PortalGuard.Token(hash), new PortalUninstall(memberId)),
                _ => Verdict.Accept(PortalGuard.Token(hash)),
            };
        }

        if (ev is AppUpdateEvent rotated)
        {
            // ONAPPUPDATE carries the *updated* application token (EN-docs on-app-update.md), so a
            // different token is legitimate here. It cannot be checked against the stored one, so it
            // is proven like an install, at the OAuth server, and it must name the portal's own host.
            var refusal = policy.Check(auth)
                ?? (string.Equals(auth.Domain, portal.Domain, StringComparison.OrdinalIgnoreCase) ? null : "The update names another domain than the installed portal.");
            if (refusal is not null)
            {
                return Verdict.Reject(Rejection.InstallRefused, refusal);
            }

            using var lease = admission.TryEnter(sender);
            if (lease is null)
            {
                return TooMany();
            }

            var proof = await installVerifier.ProveAsync(memberId, hash, auth, cancellationToken).ConfigureAwait(false);
            return proof.Outcome switch
            {
                ProofOutcome.Proven => Verdict.Accept(PortalGuard.Installed, UpdateOf(rotated, memberId, hash) with { Tokens = TokensOf(proof.Grant!) }),
                ProofOutcome.Refused => Verdict.Reject(Rejection.InstallRefused, "The OAuth server did not confirm this change of the portal's application token: " + proof.Reason),
                _ => Verdict.Reject(Rejection.PortalUnreachable, "This change of the portal's application token could not be confirmed now: " + proof.Reason),
            };
        }

        return Verdict.Reject(Rejection.WrongToken, "auth[application_token] is not this portal's token.");
    }

    private async ValueTask<Verdict> VerifyInstallAsync(AppInstallEvent install, string memberId, string hash, byte[] digest, string sender, CancellationToken cancellationToken)
    {
        var auth = install.Auth;
        var refusal = policy.Check(auth);
        if (refusal is not null)
        {
            return Verdict.Reject(Rejection.InstallRefused, refusal);
        }

        var current = await portals.FindAsync(memberId, fresh: true, cancellationToken).ConfigureAwait(false);
        if (Matches(current, digest))
        {
            // A reinstall (or a copy of the install) with the application token this trusted portal
            // already has: the token proves the sender as it proves every other event.
            return Verdict.Accept(PortalGuard.None, InstallFromEvent(install, memberId, hash));
        }

        // Anything else costs nothing durable before the OAuth server has proven it: the install's
        // refresh token, exchanged with Switchboard's client credentials, names the portal.
        using var lease = admission.TryEnter(sender);
        if (lease is null)
        {
            return TooMany();
        }

        var proof = await installVerifier.ProveAsync(memberId, hash, auth, cancellationToken).ConfigureAwait(false);
        switch (proof.Outcome)
        {
            case ProofOutcome.Proven:
            {
                var grant = proof.Grant!;
                if (policy.CheckEndpoint(grant.ClientEndpoint, out var domain) is { } endpointRefusal)
                {
                    return Verdict.Reject(Rejection.InstallRefused, endpointRefusal);
                }

                return Verdict.Accept(PortalGuard.None, new PortalInstall(
                    memberId,
                    domain,
                    grant.ClientEndpoint!,
                    grant.ServerEndpoint ?? auth.ServerEndpoint,
                    grant.Scope ?? string.Join(',', auth.Scope),
                    grant.Status ?? auth.Status?.Code,
                    hash,
                    install.Version,
                    install.LanguageId,
                    TokensOf(grant)));
            }

            case ProofOutcome.Refused:
            {
                var reason = "The OAuth server did not prove this install: " + proof.Reason;

                // A copy of an install this journal took has a spent refresh token: it is answered as
                // the duplicate it is, and refused if it is not one. Only a known portal can have one.
                return current is null
                    ? Verdict.Reject(Rejection.InstallRefused, reason)
                    : Verdict.Accept(PortalGuard.DuplicateOnly) with { UnlessDuplicate = (Rejection.InstallRefused, reason) };
            }

            default:
            {
                if (current is { State: PortalState.Installed, InstallRefused: null })
                {
                    // A trusted portal keeps its token until a change is proven.
                    return Verdict.Reject(Rejection.PortalUnreachable, "This change of the portal's application token could not be confirmed now: " + proof.Reason);
                }

                // Kept pending and untrusted: Bitrix24 sends an install once (no
                // retries), so one that cannot be checked now is kept, its events refused, until the
                // install flow proves it. Bounded, because anyone can send these.
                var unverified = (await store.ListPortalsAsync(cancellationToken).ConfigureAwait(false))
                    .Count(p => p.State == PortalState.Installed && p.InstallRefused?.StartsWith(PendingPrefix, StringComparison.Ordinal) == true && p.MemberId != memberId);
                if (unverified >= installOptions.CurrentValue.MaxUnverifiedInstalls)
                {
                    return Verdict.Reject(Rejection.TooManyPending, $"Too many installs are waiting to be verified ({unverified}); this one could not be checked: {proof.Reason}");
                }

                return Verdict.Accept(PortalGuard.None, InstallFromEvent(install, memberId, hash) with { Untrusted = PendingPrefix + proof.Reason });
            }
        }
    }

    private static Verdict TooMany() =>
        Verdict.Reject(Rejection.TooManyPending, "Too many installs or token changes are being verified (from this sender, or from everyone); nothing was stored. Try again later.");

    private PortalInstall InstallFromEvent(AppInstallEvent install, string memberId, string hash)
    {
        var auth = install.Auth;
        return new PortalInstall(
            memberId,
            auth.Domain!.Trim().ToLowerInvariant(),
            auth.ClientEndpoint!,
            auth.ServerEndpoint,
            string.Join(',', auth.Scope),
            auth.Status?.Code,
            hash,
            install.Version,
            install.LanguageId,
            TokensOf(auth));
    }

    private static PortalTokens TokensOf(Bitrix24.OAuth.OAuthGrant grant) =>
        new(grant.Tokens.AccessToken, grant.Tokens.RefreshToken, grant.Tokens.ExpiresAt, grant.UserId);

    private PortalUpdate UpdateOf(AppUpdateEvent update, string memberId, string hash) =>
        new(memberId, hash, update.Version, update.Auth.Status?.Code, update.Auth.Scope.Count == 0 ? null : string.Join(',', update.Auth.Scope), TokensOf(update.Auth));

    private PortalTokens? TokensOf(EventAuth auth) =>
        auth.AccessToken is null && auth.RefreshToken is null
            ? null
            : new PortalTokens(auth.AccessToken, auth.RefreshToken, auth.Expires ?? ExpiryOf(auth.ExpiresIn), auth.UserId);

    // Bitrix24 sends 3600 (REFERENCE.md §3.1); an absurd expires_in (beyond a year) is not an expiry
    // at all, and beyond year 9999 the addition would throw: unknown, never a 500.
    private DateTimeOffset? ExpiryOf(TimeSpan? expiresIn) =>
        expiresIn is { } e && e > TimeSpan.Zero && e <= TimeSpan.FromDays(366) ? time.GetUtcNow() + e : null;

    private static bool Matches(Portal? portal, byte[] digest)
    {
        return portal is { State: PortalState.Installed, InstallRefused: null } && DigestEquals(portal.TokenHash, digest);
    }

    private static bool DigestEquals(string? stored, byte[] digest)
    {
        if (stored is not { Length: 64 })
        {
            return false;
        }

        Span<byte> storedDigest = stackalloc byte[32];
        return Convert.FromHexString(stored, storedDigest, out _, out var written) == System.Buffers.OperationStatus.Done
            && written == 32
            && CryptographicOperations.FixedTimeEquals(storedDigest, digest);
    }

    /// <summary>Real member ids are 32 hex digits; anything printable and short is allowed, nothing that could smuggle text into a log line.</summary>
    public static bool IsMemberId(string? memberId) =>
        memberId is { Length: > 0 and <= 64 } && memberId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
}
