namespace Switchboard.Bitrix24.Rest;

/// <summary>What kind of failure a REST call met. Codes Bitrix24 sends are mapped where they are
/// documented (EN-docs _includes/system-errors.md, error-codes.md); anything else is
/// <see cref="Other"/> with the code kept as text in <see cref="RestError.Code"/>.</summary>
public enum RestErrorKind
{
    /// <summary>A code this library does not map; see <see cref="RestError.Code"/>.</summary>
    Other,
    /// <summary>401 <c>expired_token</c>: the access token expired (and a refresh did not help).</summary>
    ExpiredToken,
    /// <summary>401 <c>NO_AUTH_FOUND</c>: wrong token or webhook code.</summary>
    NoAuthFound,
    /// <summary>503 <c>QUERY_LIMIT_EXCEEDED</c>: the portal's leaky bucket overflowed.</summary>
    QueryLimitExceeded,
    /// <summary>429 <c>OPERATION_TIME_LIMIT</c>: the method's run-time budget is spent until it resets.</summary>
    OperationTimeLimit,
    /// <summary><c>WRONG_AUTH_TYPE</c>: an app-only method called without app context.</summary>
    WrongAuthType,
    /// <summary>403 <c>ACCESS_DENIED</c>.</summary>
    AccessDenied,
    /// <summary>401 <c>METHOD_CONFIRM_WAITING</c>: an administrator has to confirm the method.</summary>
    MethodConfirmWaiting,
    /// <summary><c>ERROR_CORE</c>: a method-specific error; the text is in <see cref="RestError.Description"/>.</summary>
    ErrorCore,
    /// <summary>Another 5xx (or a non-JSON 5xx page from a proxy).</summary>
    ServerError,
    /// <summary>The attempt did not answer within <see cref="Bitrix24RestOptions.AttemptTimeout"/>.</summary>
    Timeout,
    /// <summary>The connection failed or was reset.</summary>
    ConnectionFailed,
    /// <summary>The destination was refused before connecting (private, loopback, metadata address, or not https).</summary>
    DestinationRefused,
    /// <summary>The OAuth server answered <c>invalid_grant</c>; the portal is marked as needing re-authorisation.</summary>
    InvalidGrant,
    /// <summary>The portal is already marked as needing re-authorisation; no request was sent.</summary>
    NeedsReauthorisation,
    /// <summary>The OAuth server refused the refresh for another reason (<c>invalid_client</c>, <c>PAYMENT_REQUIRED</c>…).</summary>
    OAuthRefused,
    /// <summary>The credentials store does not know the portal.</summary>
    PortalUnknown,
    /// <summary>A 2xx answer that is not a Bitrix24 envelope, or a redirect that could not be followed.</summary>
    InvalidResponse,
}

/// <summary>A failed REST call. Never holds a token or a raw body.</summary>
/// <param name="Kind">The mapped kind.</param>
/// <param name="Code">The <c>error</c> code as sent (e.g. <c>ERROR_CORE</c>, <c>invalid_grant</c>), or a
/// local code for failures that never reached Bitrix24 (<c>TIMEOUT</c>, <c>CONNECTION_FAILED</c>…).</param>
/// <param name="Description">The <c>error_description</c>, or a short local explanation.</param>
/// <param name="HttpStatus">The HTTP status, when an answer arrived.</param>
public sealed record RestError(RestErrorKind Kind, string Code, string? Description, int? HttpStatus)
{
    /// <summary>When the failure is a 429 <c>OPERATION_TIME_LIMIT</c> whose reset time is known: when to try again.</summary>
    public DateTimeOffset? RetryAt { get; init; }

    /// <summary>True for failures worth trying again later: rate and time limits, 5xx, timeouts,
    /// connection errors, an unreachable OAuth server.</summary>
    /// <remarks><c>PORTAL_DELETED</c> comes as a 500 but will not get better by waiting.</remarks>
    public bool IsTransient => (Kind is RestErrorKind.QueryLimitExceeded or RestErrorKind.OperationTimeLimit
        or RestErrorKind.ServerError or RestErrorKind.Timeout or RestErrorKind.ConnectionFailed
        || HttpStatus is >= 500 or 429)
        && !string.Equals(Code, "PORTAL_DELETED", StringComparison.OrdinalIgnoreCase);

    /// <summary>Maps a Bitrix24 <c>error</c> code (case-insensitive, as the SDK compares them).</summary>
    public static RestError FromCode(string code, string? description, int? httpStatus)
    {
        ArgumentNullException.ThrowIfNull(code);
        var kind = code.ToUpperInvariant() switch
        {
            "EXPIRED_TOKEN" => RestErrorKind.ExpiredToken,
            "NO_AUTH_FOUND" => RestErrorKind.NoAuthFound,
            "QUERY_LIMIT_EXCEEDED" => RestErrorKind.QueryLimitExceeded,
            "OPERATION_TIME_LIMIT" => RestErrorKind.OperationTimeLimit,
            "WRONG_AUTH_TYPE" => RestErrorKind.WrongAuthType,
            "ACCESS_DENIED" => RestErrorKind.AccessDenied,
            "METHOD_CONFIRM_WAITING" => RestErrorKind.MethodConfirmWaiting,
            "ERROR_CORE" => RestErrorKind.ErrorCore,
            _ when httpStatus is >= 500 => RestErrorKind.ServerError,
            _ => RestErrorKind.Other,
        };
        return new RestError(kind, code, description, httpStatus);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Code}{(HttpStatus is { } s ? $" (HTTP {s})" : "")}{(Description is { Length: > 0 } d ? $": {d}" : "")}";
}
