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
}

/// <summary>The verdict on one event: either what to append, or why not.</summary>
public sealed record Verdict(PortalGuard? Guard, PortalChange? Change, Rejection? Rejection, string? Reason)
{
    /// <summary>Accepted.</summary>
    public bool Accepted => Rejection is null;

    internal static Verdict Accept(PortalGuard guard, PortalChange? change = null) => new(guard, change, null, null);

    internal static Verdict Reject(Rejection rejection, string reason) => new(null, null, rejection, reason);
}

/// <summary>
/// Proves an event comes from an installed portal: its <c>auth[member_id]</c> names an installed
/// portal and its <c>auth[application_token]</c> is that portal's (REFERENCE.md §2.1; the SDK's
/// RemoteEventsFactory::validate does the same). Tokens are compared as SHA-256 digests in constant
/// time, so neither their content nor their length leaks through timing.
/// </summary>
public sealed class EventVerifier(PortalDirectory portals, InstallPolicy policy, IInstallVerifier installVerifier, TimeProvider time)
{
    /// <summary>Decides on one event.</summary>
    public async ValueTask<Verdict> VerifyAsync(Bitrix24Event ev, CancellationToken cancellationToken)
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
            return await VerifyInstallAsync(install, memberId, hash, digest, cancellationToken).ConfigureAwait(false);
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
            // is checked like an install, and it must come from the portal's own host.
            // The policy only reads what the sender wrote; the portal itself must confirm the change
            // before it replaces the token its events are checked against.
            var refusal = policy.Check(auth)
                ?? (string.Equals(auth.Domain, portal.Domain, StringComparison.OrdinalIgnoreCase) ? null : "The update names another domain than the installed portal.");
            if (refusal is not null)
            {
                return Verdict.Reject(Rejection.InstallRefused, refusal);
            }

            return await ConfirmedAsync(portal, ev, Verdict.Accept(PortalGuard.Installed, UpdateOf(rotated, memberId, hash)), cancellationToken).ConfigureAwait(false);
        }

        return Verdict.Reject(Rejection.WrongToken, "auth[application_token] is not this portal's token.");
    }

    private async ValueTask<Verdict> VerifyInstallAsync(AppInstallEvent install, string memberId, string hash, byte[] digest, CancellationToken cancellationToken)
    {
        var auth = install.Auth;
        var refusal = policy.Check(auth) ?? await installVerifier.VerifyAsync(install, cancellationToken).ConfigureAwait(false);
        if (refusal is not null)
        {
            return Verdict.Reject(Rejection.InstallRefused, refusal);
        }

        // An install of a portal that is installed here, with another application token: a reinstall the
        // uninstall event of which never arrived, or somebody who knows the member_id and the domain. Only
        // the portal can tell (IInstallVerifier.ConfirmTokenChangeAsync). The same token proves itself, and a
        // portal that is new, uninstalled or refused has no working token to take over.
        var current = await portals.FindAsync(memberId, fresh: true, cancellationToken).ConfigureAwait(false);
        var tokenChange = current is { State: PortalState.Installed, InstallRefused: null, TokenHash: { Length: 64 } } && !Matches(current, digest);

        var change = new PortalInstall(
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
        var accept = Verdict.Accept(PortalGuard.None, change);
        return tokenChange ? await ConfirmedAsync(current!, install, accept, cancellationToken).ConfigureAwait(false) : accept;
    }

    private async ValueTask<Verdict> ConfirmedAsync(Portal current, Bitrix24Event ev, Verdict accept, CancellationToken cancellationToken)
    {
        var (outcome, reason) = await installVerifier.ConfirmTokenChangeAsync(current, ev, cancellationToken).ConfigureAwait(false);
        return outcome switch
        {
            TokenChangeCheck.Confirmed => accept,
            TokenChangeCheck.Refused => Verdict.Reject(Rejection.InstallRefused, "The portal did not confirm this change of its application token: " + reason),
            _ => Verdict.Reject(Rejection.PortalUnreachable, "The portal could not confirm this change of its application token now: " + reason),
        };
    }

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
