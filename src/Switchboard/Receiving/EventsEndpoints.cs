using System.Buffers;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Switchboard.Bitrix24.Events;
using Switchboard.Bitrix24.Wire;
using Switchboard.Hosting;
using Switchboard.Journal;
using Switchboard.Portals;

namespace Switchboard.Receiving;

/// <summary><c>POST /bitrix24/events</c>: the front door, handled by <see cref="EventReceiver"/>.</summary>
public static class EventsEndpoints
{
    /// <summary>The path Bitrix24 is told to POST to.</summary>
    public const string Path = "/bitrix24/events";

    public static IEndpointRouteBuilder MapEvents(this IEndpointRouteBuilder app)
    {
        // A plain RequestDelegate with the receiver (a singleton) taken from the root provider: a handler
        // parameter is resolved from HttpContext.RequestServices, which creates (and disposes) a DI
        // scope for every request that nothing on the 200 path needs.
        EventReceiver? receiver = null;
        app.MapPost(Path, async http =>
        {
            receiver ??= app.ServiceProvider.GetRequiredService<EventReceiver>();
            var result = await receiver.ReceiveAsync(http).ConfigureAwait(false);
            await result.ExecuteAsync(http).ConfigureAwait(false);
        }).DisableAntiforgery();
        return app;
    }

    public static IServiceCollection AddReceiving(this IServiceCollection services)
    {
        services.AddOptions<ReceivingOptions>().BindConfiguration(ReceivingOptions.SectionName)
            .Validate(o => o.MaxBodyBytes is > 0 and <= 16 * 1024 * 1024, "Switchboard:Receiving:MaxBodyBytes must be between 1 and 16777216.")
            .Validate(o => o.MaxKeys > 0 && o.MaxDepth > 0 && o.MaxKeyLength > 0 && o.MaxValueLength > 0, "Switchboard:Receiving limits must be positive.")
            // System.Text.Json reads and writes at most 64 levels by default (the journal's JSON redaction
            // re-parses the body): a deeper limit would turn a deep body into a 500 after it was accepted.
            .Validate(o => o.MaxDepth <= 64, "Switchboard:Receiving:MaxDepth must be at most 64.")
            .ValidateOnStart();
        services.AddSingleton<EventReceiver>();
        return services;
    }
}

/// <summary>
/// Receives one delivery. One hop per step, in order: size and type → read → parse → verify →
/// journal (committed) → 200. Nothing here talks to Bitrix24 or the PBX.
/// </summary>
public sealed partial class EventReceiver(
    IOptions<ReceivingOptions> options,
    EventVerifier verifier,
    JournalWriter journal,
    PortalDirectory portals,
    SwitchboardMetrics metrics,
    TimeProvider time,
    ILogger<EventReceiver> logger)
{
    private const string FormType = JournalBody.FormType;
    private const string JsonType = "application/json";

    private readonly ReceivingOptions _limits = options.Value;
    private readonly FormLimits _formLimits = options.Value.ToLimits();

    /// <summary>Handles <c>POST /bitrix24/events</c>.</summary>
    public async Task<IResult> ReceiveAsync(HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        var request = http.Request;
        var limits = _limits;

        if (!TryGetMediaType(request.ContentType, out var mediaType, out var typeProblem))
        {
            metrics.EventReceived("unsupported_media_type", null);
            LogRefused(logger, StatusCodes.Status415UnsupportedMediaType, typeProblem, Remote(http));
            return Problem(StatusCodes.Status415UnsupportedMediaType, "Unsupported content type", typeProblem);
        }

        if (request.ContentLength > limits.MaxBodyBytes)
        {
            return TooLarge(Remote(http), limits.MaxBodyBytes);
        }

        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(request.ContentLength ?? 4096, limits.MaxBodyBytes) + 1);
        try
        {
            var length = 0;
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length > limits.MaxBodyBytes)
                    {
                        return TooLarge(Remote(http), limits.MaxBodyBytes);
                    }

                    var bigger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, limits.MaxBodyBytes + 1));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }

                var read = await request.Body.ReadAsync(buffer.AsMemory(length), http.RequestAborted).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                length += read;
                if (length > limits.MaxBodyBytes)
                {
                    // Chunked or lying Content-Length: stop reading at the limit, never buffer the rest.
                    return TooLarge(Remote(http), limits.MaxBodyBytes);
                }
            }

            var body = buffer.AsMemory(0, length);
            var parsed = mediaType == FormType
                ? PhpFormParser.Parse(body.Span, _formLimits)
                : JsonEventBodyParser.Parse(body.Span, _formLimits);
            if (!parsed.Success)
            {
                metrics.EventReceived("bad_request", null);
                LogRefused(logger, StatusCodes.Status400BadRequest, parsed.Detail, Remote(http));
                return Problem(StatusCodes.Status400BadRequest, "Malformed event body", parsed.Detail);
            }

            var typed = Bitrix24EventReader.Read(parsed.Root);
            if (!typed.Success)
            {
                metrics.EventReceived("bad_request", null);
                LogRefused(logger, StatusCodes.Status400BadRequest, typed.Error, Remote(http));
                return Problem(StatusCodes.Status400BadRequest, "Not a Bitrix24 event", typed.Error);
            }

            var ev = typed.Event;
            Verdict verdict;
            try
            {
                verdict = await verifier.VerifyAsync(ev, Remote(http), http.RequestAborted).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is System.Data.Common.DbException or TimeoutException or IOException or System.Net.Sockets.SocketException)
            {
                // The portal could not be read (PostgreSQL unreachable, say): the same answer as a
                // store that cannot commit, never a 500, and nothing was stored.
                return Unavailable(ev, ex.Message);
            }

            if (!verdict.Accepted)
            {
                return Rejected(ev, verdict.Rejection!.Value, verdict.Reason!, Remote(http));
            }

            if (ev.Problems.Count > 0)
            {
                LogFieldProblems(logger, ev.Name, ev.Auth.MemberId, string.Join(", ", ev.Problems.Select(p => $"{p.Field} is not {p.Expected}")));
            }

            var append = JournalBody.ToAppend(time.GetUtcNow(), mediaType, body.Span, ev, parsed.Root, verdict);

            AppendResult result;
            try
            {
                result = await journal.AppendAsync(append, CancellationToken.None).ConfigureAwait(false);
            }
            catch (JournalUnavailableException ex)
            {
                return Unavailable(ev, ex.InnerException?.Message ?? ex.Message);
            }

            if (verdict.Change is { } change)
            {
                portals.Invalidate(change.MemberId);
            }

            switch (result.Status)
            {
                case AppendStatus.Stored:
                    metrics.EventReceived("stored", ev.Name);
                    LogStored(logger, ev.Name, ev.Auth.MemberId, ev.CallId, result.Id);
                    return Receipt(result.Id!.Value, duplicate: false);
                case AppendStatus.Duplicate:
                    metrics.EventReceived("duplicate", ev.Name);
                    LogDuplicate(logger, ev.Name, ev.Auth.MemberId, ev.CallId, result.Id);
                    return Receipt(result.Id!.Value, duplicate: true);
                default:
                    // The portal changed between the check and the commit (e.g. uninstalled meanwhile), or
                    // an uninstall for an uninstalled portal that is not a copy of the one it committed.
                    return verdict.Guard!.Kind == PortalGuardKind.DuplicateOnly
                        ? Rejected(ev, verdict.UnlessDuplicate?.Rejection ?? Rejection.Uninstalled, verdict.UnlessDuplicate?.Reason ?? "The portal has uninstalled Switchboard.", Remote(http))
                        : Rejected(ev, Rejection.UnknownPortal, "No installed portal has this auth[member_id] and auth[application_token].", Remote(http));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static bool TryGetMediaType(string? contentType, out string mediaType, out string problem)
    {
        mediaType = string.Empty;
        problem = $"Send events as {FormType} (as Bitrix24 does) or {JsonType}.";
        if (!MediaTypeHeaderValue.TryParse(contentType, out var parsed))
        {
            return false;
        }

        var type = parsed.MediaType.Value?.ToLowerInvariant();
        if (type is not (FormType or JsonType))
        {
            return false;
        }

        var charset = parsed.Charset.Value;
        if (charset is not null && !charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase) && !charset.Equals("utf8", StringComparison.OrdinalIgnoreCase))
        {
            problem = "Event bodies must be UTF-8.";
            return false;
        }

        mediaType = type;
        return true;
    }

    private static ReceiptResult Receipt(long id, bool duplicate) =>
        new ReceiptResult(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new ReceiptResponse(id, duplicate), ReceivingJson.Default.ReceiptResponse));

    /// <summary>
    /// The 200, serialised up front so it goes out with a Content-Length, not chunked. Written
    /// directly: <c>Results.Bytes</c> asks HttpContext.RequestServices for a logger, which creates a DI
    /// scope for every acknowledged event.
    /// </summary>
    private sealed class ReceiptResult(byte[] json) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            var response = httpContext.Response;
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = JsonType;
            response.ContentLength = json.Length;
            try
            {
                await response.Body.WriteAsync(json, httpContext.RequestAborted).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The sender hung up before its answer (the event is committed all the same): end the
                // connection, as Results.Bytes does, rather than let the exception reach the error handler.
                httpContext.Abort();
            }
        }
    }

    private IResult Unavailable(Bitrix24Event ev, string error)
    {
        metrics.EventReceived("unavailable", ev.Name);
        LogUnavailable(logger, ev.Name, ev.Auth.MemberId, error);
        return Problem(StatusCodes.Status503ServiceUnavailable, "Journal unavailable",
            "The event could not be stored, so it was not accepted. Switchboard's store is not reachable or not writable right now; see /readyz.");
    }

    private static string Remote(HttpContext http) => http.Connection.RemoteIpAddress?.ToString() ?? "unknown";

    private IResult TooLarge(string remote, int max)
    {
        metrics.EventReceived("too_large", null);
        var detail = $"The body is larger than {max} bytes (Switchboard:Receiving:MaxBodyBytes).";
        LogRefused(logger, StatusCodes.Status413PayloadTooLarge, detail, remote);
        return Problem(StatusCodes.Status413PayloadTooLarge, "Event body too large", detail);
    }

    private IResult Rejected(Bitrix24Event ev, Rejection rejection, string reason, string remote)
    {
        var (status, title, outcome) = rejection switch
        {
            Rejection.InstallRefused => (StatusCodes.Status403Forbidden, "Install refused", "forbidden"),
            Rejection.TooManyPending => (StatusCodes.Status429TooManyRequests, "Too many pending verifications", "too_many_requests"),

            // Not the sender's fault and not a verdict on it: the portal could not be asked. Nothing is
            // stored and the portal's current token stays in force.
            Rejection.PortalUnreachable => (StatusCodes.Status503ServiceUnavailable, "Token change not confirmed", "unavailable"),
            _ => (StatusCodes.Status401Unauthorized, "Event not verified", "unauthorized"),
        };
        metrics.EventReceived(outcome, ev.Name);
        LogRejected(logger, ev.Name, EventVerifier.IsMemberId(ev.Auth.MemberId) ? ev.Auth.MemberId : "(invalid)", rejection, reason, remote);
        return Problem(status, title, reason);
    }

    private static IResult Problem(int status, string title, string? detail) =>
        Results.Problem(title: title, detail: detail, statusCode: status);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Debug, Message = "Stored {EventName} from {MemberId} call {CallId} as #{JournalId}")]
    private static partial void LogStored(ILogger logger, string eventName, string? memberId, string? callId, long? journalId);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Duplicate {EventName} from {MemberId} call {CallId}: already #{JournalId}")]
    private static partial void LogDuplicate(ILogger logger, string eventName, string? memberId, string? callId, long? journalId);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Warning, Message = "Rejected {EventName} claiming portal {MemberId}: {Rejection} ({Reason}) from {RemoteIp}")]
    private static partial void LogRejected(ILogger logger, string eventName, string? memberId, Rejection rejection, string reason, string remoteIp);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Warning, Message = "Refused a delivery with {Status}: {Reason} from {RemoteIp}")]
    private static partial void LogRefused(ILogger logger, int status, string? reason, string remoteIp);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Error, Message = "Could not journal {EventName} from {MemberId}, answered 503: {Error}")]
    private static partial void LogUnavailable(ILogger logger, string eventName, string? memberId, string error);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Warning, Message = "{EventName} from {MemberId} kept with fields that did not parse: {Problems}")]
    private static partial void LogFieldProblems(ILogger logger, string eventName, string? memberId, string problems);
}

/// <summary>The 200 answer: the journal id, and whether this delivery was a repeat.</summary>
public sealed record ReceiptResponse(long Id, bool Duplicate);

[System.Text.Json.Serialization.JsonSerializable(typeof(ReceiptResponse))]
[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
internal sealed partial class ReceivingJson : System.Text.Json.Serialization.JsonSerializerContext;
