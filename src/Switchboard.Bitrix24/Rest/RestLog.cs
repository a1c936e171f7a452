using Microsoft.Extensions.Logging;

namespace Switchboard.Bitrix24.Rest;

/// <summary>Log lines of the REST client. Never a token, a client secret, a URL query or a body.</summary>
internal static partial class RestLog
{
    [LoggerMessage(EventId = 2101, Level = LogLevel.Information,
        Message = "Retrying {Method} for portal {MemberId} after {ErrorCode} (failure {Failure} of {MaxAttempts}) in {DelayMs} ms")]
    public static partial void Retrying(ILogger logger, string method, string memberId, string errorCode, int failure, int maxAttempts, long delayMs);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Warning,
        Message = "{Method} for portal {MemberId} failed: {ErrorCode} (HTTP {HttpStatus}) after {Attempts} attempts")]
    public static partial void Failed(ILogger logger, string method, string memberId, string errorCode, int? httpStatus, int attempts);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Information, Message = "Access token of portal {MemberId} refreshed and stored")]
    public static partial void TokenRefreshed(ILogger logger, string memberId);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Warning,
        Message = "Token refresh for portal {MemberId} failed: {ErrorCode}")]
    public static partial void RefreshFailed(ILogger logger, string memberId, string errorCode);

    [LoggerMessage(EventId = 2105, Level = LogLevel.Error,
        Message = "Portal {MemberId} needs re-authorisation: the OAuth server answered invalid_grant")]
    public static partial void NeedsReauthorisation(ILogger logger, string memberId);

    [LoggerMessage(EventId = 2106, Level = LogLevel.Warning,
        Message = "Portal {MemberId} moved: new client endpoint {ClientEndpoint}")]
    public static partial void EndpointChanged(ILogger logger, string memberId, string clientEndpoint);

    [LoggerMessage(EventId = 2107, Level = LogLevel.Warning,
        Message = "{Method} paused for portal {MemberId} until {Until} (OPERATION_TIME_LIMIT)")]
    public static partial void MethodPaused(ILogger logger, string method, string memberId, DateTimeOffset until);
}
