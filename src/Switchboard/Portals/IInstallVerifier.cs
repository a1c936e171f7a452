using Switchboard.Bitrix24.Events;
using Switchboard.Bitrix24.Rest;
using Switchboard.Bitrix24.Telephony;
using Switchboard.Journal;

namespace Switchboard.Portals;

/// <summary>What the portal said about a token change (see <see cref="IInstallVerifier.ConfirmTokenChangeAsync"/>).</summary>
public enum TokenChangeCheck
{
    /// <summary>The portal accepted the event's access token: the change comes from the portal.</summary>
    Confirmed,

    /// <summary>No access token to check, or the portal refused it: not the portal's event.</summary>
    Refused,

    /// <summary>The portal could not be asked (timeout, 5xx, rate limit, our own settings): neither.</summary>
    Unreachable,
}

/// <summary>
/// Checks of an install against the portal itself, on the request path (so each must answer within a
/// few seconds). <see cref="InstallPolicy"/> only reads text the sender wrote; these ask the portal.
/// </summary>
/// <remarks>
/// A first install (a member_id not installed here, or installed and then uninstalled) passes with the
/// policy alone: the portal's own check, <c>app.info</c> with the install's access token (REFERENCE.md
/// §2.1, §2.4; EN-docs api-reference/events/safe-event-handlers.md), is made after it is journaled, by
/// the install flow (<see cref="Setup.PortalSetupHandler"/>), and an install the portal refuses is
/// marked so that <see cref="EventVerifier"/> refuses that portal's events. A <em>token change</em> of a
/// portal that is installed here (an ONAPPINSTALL or ONAPPUPDATE whose application token is not the
/// stored one) must be confirmed before it is accepted: after the fact would be too late, because by
/// then the sender's token has replaced the portal's and the portal's own events are refused (anyone
/// who knows a member_id and its domain, both of which appear in logs and listings, could otherwise
/// take over a portal's events or lock it out).
/// </remarks>
public interface IInstallVerifier
{
    /// <summary>Null to accept a first install; otherwise why it is refused.</summary>
    ValueTask<string?> VerifyAsync(Bitrix24Event install, CancellationToken cancellationToken);

    /// <summary>
    /// Asks the portal, at the endpoint stored for <paramref name="current"/> (never at the one the
    /// event names), whether the access token in <paramref name="ev"/>'s auth block is its own.
    /// </summary>
    ValueTask<(TokenChangeCheck Outcome, string Reason)> ConfirmTokenChangeAsync(Portal current, Bitrix24Event ev, CancellationToken cancellationToken);
}

/// <summary>
/// Accepts first installs that passed the policy, and confirms token changes with <c>app.info</c> at
/// the portal's stored endpoint with the event's own access token
/// (<see cref="PortalClient.AppInfoAsync(string, Uri, string, CancellationToken)"/>).
/// </summary>
public sealed class PortalInstallVerifier(PortalClient portalClient) : IInstallVerifier
{
    /// <summary>How long the request path waits for the portal's answer, retries included.</summary>
    public static readonly TimeSpan ConfirmTimeout = TimeSpan.FromSeconds(10);

    /// <inheritdoc/>
    public ValueTask<string?> VerifyAsync(Bitrix24Event install, CancellationToken cancellationToken) => ValueTask.FromResult<string?>(null);

    /// <inheritdoc/>
    public async ValueTask<(TokenChangeCheck Outcome, string Reason)> ConfirmTokenChangeAsync(Portal current, Bitrix24Event ev, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(ev);

        // ONAPPINSTALL and ONAPPUPDATE carry access_token and refresh_token (REFERENCE.md §2.1, §2.3).
        if (string.IsNullOrEmpty(ev.Auth.AccessToken))
        {
            return Refused("A new auth[application_token] for an installed portal must come with the portal's auth[access_token], which Switchboard checks with the portal; this event has none.");
        }

        if (!Uri.TryCreate(current.ClientEndpoint, UriKind.Absolute, out var endpoint))
        {
            return Unreachable("The portal's stored client endpoint is not a URL.");
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ConfirmTimeout);
        RestResult<AppInfo> info;
        try
        {
            info = await portalClient.AppInfoAsync(current.MemberId, endpoint, ev.Auth.AccessToken, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Unreachable($"The portal did not answer app.info within {ConfirmTimeout.TotalSeconds:0} s.");
        }

        if (info.IsSuccess)
        {
            return info.Value.Installed is false
                ? Refused("app.info with the event's access token says the application is not installed on the portal.")
                : (TokenChangeCheck.Confirmed, "app.info at the portal accepted the event's access token.");
        }

        // The portal answered and refused the token (401 NO_AUTH_FOUND, invalid_token, or expired_token:
        // an install's token is fresh, and this one cannot be refreshed). Anything else may get better.
        var error = info.Error;
        return error.Kind is RestErrorKind.NoAuthFound or RestErrorKind.ExpiredToken or RestErrorKind.WrongAuthType
               || string.Equals(error.Code, "invalid_token", StringComparison.OrdinalIgnoreCase)
            ? Refused($"The portal refused the event's access token ({error.Code}).")
            : Unreachable($"app.info at the portal failed ({error.Code}).");
    }

    // Logged once, by the receiver, with the rejection and its reason.
    private static (TokenChangeCheck, string) Refused(string reason) => (TokenChangeCheck.Refused, reason);

    private static (TokenChangeCheck, string) Unreachable(string reason) => (TokenChangeCheck.Unreachable, reason);
}
