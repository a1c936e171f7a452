using Switchboard.Bitrix24.Events;

namespace Switchboard.Portals;

/// <summary>
/// The seam where an install that passed <see cref="InstallPolicy"/> could be confirmed with the portal
/// itself on the request path, before the install is journaled (so it must answer within a few
/// seconds). The portal's own check, <c>app.info</c> with the install's access token (REFERENCE.md
/// §2.1, §2.4; EN-docs api-reference/events/safe-event-handlers.md), is made after the install is
/// journaled, by the install flow (<see cref="Setup.PortalSetupHandler"/>): an install the portal
/// refuses is marked, and <see cref="EventVerifier"/> then refuses that portal's events.
/// </summary>
public interface IInstallVerifier
{
    /// <summary>Null to accept; otherwise why the portal did not confirm the install.</summary>
    ValueTask<string?> VerifyAsync(Bitrix24Event install, CancellationToken cancellationToken);
}

/// <summary>Accepts every install the policy accepted. Used until the REST client can ask the portal.</summary>
public sealed class PolicyOnlyInstallVerifier : IInstallVerifier
{
    /// <inheritdoc/>
    public ValueTask<string?> VerifyAsync(Bitrix24Event install, CancellationToken cancellationToken) => ValueTask.FromResult<string?>(null);
}
