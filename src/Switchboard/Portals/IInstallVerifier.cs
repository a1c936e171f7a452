using Switchboard.Bitrix24.Events;

namespace Switchboard.Portals;

/// <summary>
/// The seam where an install that passed <see cref="InstallPolicy"/> is confirmed with the portal
/// itself. The install flow adds the real check: call <c>app.info</c> at the portal with the
/// install's access token and require it to answer for this member_id (REFERENCE.md §2.1, §2.4;
/// EN-docs api-reference/events/safe-event-handlers.md). It runs on the request path before the
/// install is journaled, so it must answer within a few seconds.
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
