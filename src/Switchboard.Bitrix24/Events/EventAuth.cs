using System.Text;

namespace Switchboard.Bitrix24.Events;

/// <summary>
/// The <c>auth</c> block of an event (EN-docs _includes/auth-params-in-events.md; <c>expires</c> and
/// <c>user_id</c> from the SDK's fixtures). Every field is optional: tokens are absent whenever the
/// trigger was not a user (a robot, a workflow), and <c>ONAPPUNINSTALL</c> carries none at all.
/// </summary>
/// <remarks><see cref="ToString"/> never prints a token: events end up in logs and exceptions.</remarks>
public sealed record EventAuth
{
    /// <summary>An auth block with nothing in it.</summary>
    public static EventAuth Empty { get; } = new();

    /// <summary><c>access_token</c>: OAuth access token of the user who triggered the event.</summary>
    public string? AccessToken { get; init; }

    /// <summary><c>refresh_token</c>: sent with ONAPPINSTALL, ONAPPUPDATE, ONOFFLINEEVENT and often telephony events.</summary>
    public string? RefreshToken { get; init; }

    /// <summary><c>application_token</c>: the shared secret that proves the event comes from the portal.</summary>
    public string? ApplicationToken { get; init; }

    /// <summary><c>expires_in</c>: access-token lifetime.</summary>
    public TimeSpan? ExpiresIn { get; init; }

    /// <summary><c>expires</c>: absolute expiry of the access token.</summary>
    public DateTimeOffset? Expires { get; init; }

    /// <summary><c>scope</c>, split on commas or spaces (the docs show both).</summary>
    public IReadOnlyList<string> Scope { get; init; } = [];

    /// <summary><c>domain</c>: the portal's host (may carry a port).</summary>
    public string? Domain { get; init; }

    /// <summary><c>server_endpoint</c>: the OAuth server's REST root. Attacker-controlled text until verified.</summary>
    public string? ServerEndpoint { get; init; }

    /// <summary><c>client_endpoint</c>: the portal's REST root. Attacker-controlled text until verified.</summary>
    public string? ClientEndpoint { get; init; }

    /// <summary><c>member_id</c>: the portal's stable id; portals are keyed by it, never by domain.</summary>
    public string? MemberId { get; init; }

    /// <summary><c>status</c>: the application's status letter.</summary>
    public ApplicationStatus? Status { get; init; }

    /// <summary><c>user_id</c>: the Bitrix24 user the tokens belong to.</summary>
    public long? UserId { get; init; }

    /// <summary>True when the event carries an access token (and so could call REST as that user).</summary>
    public bool HasAccessToken => !string.IsNullOrEmpty(AccessToken);

    /// <summary>Prints the non-secret fields and whether each token was present.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder("EventAuth { ");
        sb.Append("MemberId = ").Append(MemberId)
          .Append(", Domain = ").Append(Domain)
          .Append(", ClientEndpoint = ").Append(ClientEndpoint)
          .Append(", ServerEndpoint = ").Append(ServerEndpoint)
          .Append(", Status = ").Append(Status)
          .Append(", Scope = ").Append(string.Join(',', Scope))
          .Append(", UserId = ").Append(UserId)
          .Append(", AccessToken = ").Append(AccessToken is null ? "(none)" : "(redacted)")
          .Append(", RefreshToken = ").Append(RefreshToken is null ? "(none)" : "(redacted)")
          .Append(", ApplicationToken = ").Append(ApplicationToken is null ? "(none)" : "(redacted)")
          .Append(" }");
        return sb.ToString();
    }
}
