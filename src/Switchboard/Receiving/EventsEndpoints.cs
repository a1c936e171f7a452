using System.Buffers;
using Microsoft.AspNetCore.Connections;
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
            .Validate(o => o.MinBodyBytesPerSecond > 0 && o.BodyGracePeriod > TimeSpan.FromSeconds(1), "Switchboard:Receiving:MinBodyBytesPerSecond must be positive and BodyGracePeriod more than 1 second (Kestrel's heartbeat).")
            .Validate(o => o.HeadersTimeout > TimeSpan.Zero && o.RefusalLogInterval > TimeSpan.Zero, "Switchboard:Receiving:HeadersTimeout and RefusalLogInterval must be positive.")
            .ValidateOnStart();
        services.AddSingleton<RefusalLog>();
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
    RefusalLog refusals,
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
            return Refused(http, StatusCodes.Status415UnsupportedMediaType, "unsupported_media_type", "Unsupported content type", typeProblem);
        }

        if (request.ContentLength > limits.MaxBodyBytes)
        {
            return TooLarge(http, limits.MaxBodyBytes);
        }

        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(request.ContentLength ?? 4096, limits.MaxBodyBytes) + 1);
        try
        {
            var length = 0;
            try
            {
                while (true)
                {
                    if (length == buffer.Length)
                    {
                        if (length > limits.MaxBodyBytes)
                        {
                            return TooLarge(http, limits.MaxBodyBytes);
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
                        return TooLarge(http, limits.MaxBodyBytes);
                    }
                }
            }
            catch (BadHttpRequestException ex)
            {
                // Kestrel's verdict on the body itself (its message may quote the bad bytes, so it is not
                // passed on): broken chunked framing (400), a body slower than MinBodyBytesPerSecond or
                // stalled (408), more than Kestrel's MaxRequestBodySize in one read (413).
                return Unreadable(http, ex.StatusCode);
            }
            catch (Exception ex) when (ex is ConnectionResetException or OperationCanceledException)
            {
                // The sender hung up mid-body: no one to answer, and not Switchboard's error.
                return SenderGone(http);
            }
            catch (IOException)
            {
                // Kestrel reports some broken framing (a chunk size that overflows) as a plain IOException,
                // not a BadHttpRequestException; a sender that hung up is a ConnectionResetException, above.
                return Unreadable(http, StatusCodes.Status400BadRequest);
            }

            var body = buffer.AsMemory(0, length);
            var parsed = mediaType == FormType
                ? PhpFormParser.Parse(body.Span, _formLimits)
                : JsonEventBodyParser.Parse(body.Span, _formLimits);
            if (!parsed.Success)
            {
                return Refused(http, StatusCodes.Status400BadRequest, "bad_request", "Malformed event body", parsed.Detail, parsed.Error.ToString());
            }

            var typed = Bitrix24EventReader.Read(parsed.Root);
            if (!typed.Success)
            {
                return Refused(http, StatusCodes.Status400BadRequest, "bad_request", "Not a Bitrix24 event", typed.Error);
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
                return Unavailable(http, ev, ex.Message);
            }

            if (!verdict.Accepted)
            {
                return Rejected(http, ev, verdict.Rejection!.Value, verdict.Reason!);
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
                return Unavailable(http, ev, ex.InnerException?.Message ?? ex.Message);
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
                        ? Rejected(http, ev, verdict.UnlessDuplicate?.Rejection ?? Rejection.Uninstalled, verdict.UnlessDuplicate?.Reason ?? "The portal has uninstalled Switchboard.")
                        : Rejected(http, ev, Rejection.UnknownPortal, "No installed portal has this auth[member_id] and auth[application_token].");
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

    private IResult Unavailable(HttpContext http, Bitrix24Event ev, string error)
    {
        metrics.EventReceived("unavailable", ev.Name);
        // While the disk is full every event fails the same way: the first in each interval is logged
        // as an error with its reason, the rest are counted into the interval's summary.
        if (refusals.ShouldLog("503 journal unavailable", severe: true, (ev.Name, Remote(http)), static s => $"503 {s.Name} from {s.Item2}"))
        {
            LogUnavailable(logger, ev.Name, ev.Auth.MemberId, error);
        }

        return Problem(StatusCodes.Status503ServiceUnavailable, "Journal unavailable",
            "The event could not be stored, so it was not accepted. Switchboard's store is not reachable or not writable right now; see /readyz.");
    }

    private static string Remote(HttpContext http) => http.Connection.RemoteIpAddress?.ToString() ?? "unknown";

    /// <summary>A refusal before the event is read (type, size, framing, body): counted, logged by <see cref="RefusalLog"/>, answered with problem details.</summary>
    private IResult Refused(HttpContext http, int status, string outcome, string title, string detail, string? kind = null)
    {
        metrics.EventReceived(outcome, null);
        var key = kind is null ? $"{status} {title}" : $"{status} {title} ({kind})";
        if (refusals.ShouldLog(key, severe: false, (status, detail, Remote(http)), static s => $"{s.status} {s.detail} from {s.Item3}"))
        {
            LogRefused(logger, status, detail, Remote(http));
        }

        return Problem(status, title, detail);
    }

    private IResult TooLarge(HttpContext http, int max)
    {
        // The rest of the body is never read, so the connection cannot carry another request: say so
        // rather than let the sender find a closed socket after its answer.
        http.Response.Headers.Connection = "close";
        return Refused(http, StatusCodes.Status413PayloadTooLarge, "too_large", "Event body too large",
            $"The body is larger than {max} bytes (Switchboard:Receiving:MaxBodyBytes).");
    }

    private IResult Unreadable(HttpContext http, int kestrelStatus)
    {
        // Kestrel closes a connection whose body could not be read; the answer says so too.
        http.Response.Headers.Connection = "close";
        return kestrelStatus switch
        {
            StatusCodes.Status413PayloadTooLarge => TooLarge(http, _limits.MaxBodyBytes),
            StatusCodes.Status408RequestTimeout => Refused(http, StatusCodes.Status408RequestTimeout, "timeout", "Event body too slow",
                $"The body stopped or arrived slower than {_limits.MinBodyBytesPerSecond.ToString(System.Globalization.CultureInfo.InvariantCulture)} bytes per second after {_limits.BodyGracePeriod.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)} s (Switchboard:Receiving:MinBodyBytesPerSecond, BodyGracePeriod)."),
            _ => Refused(http, StatusCodes.Status400BadRequest, "bad_request", "Malformed request body",
                "The request body's framing is broken (chunked encoding: a chunk size that is not hex or too large, a missing CRLF, a bad trailer; or a body shorter than its Content-Length)."),
        };
    }

    private GoneResult SenderGone(HttpContext http)
    {
        metrics.EventReceived("aborted", null);
        LogSenderGone(logger, http.Connection.RemoteIpAddress);
        return GoneResult.Instance;
    }

    /// <summary>No answer: the connection is ended, as there is no one left to read it.</summary>
    private sealed class GoneResult : IResult
    {
        public static GoneResult Instance { get; } = new();

        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Abort();
            return Task.CompletedTask;
        }
    }

    private IResult Rejected(HttpContext http, Bitrix24Event ev, Rejection rejection, string reason)
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
        var memberId = EventVerifier.IsMemberId(ev.Auth.MemberId) ? ev.Auth.MemberId : "(invalid)";
        if (refusals.ShouldLog(RejectionKinds[(int)rejection], severe: false, (status, rejection, memberId, Remote(http)), static s => $"{s.status} {s.rejection} claiming portal {s.memberId} from {s.Item4}"))
        {
            LogRejected(logger, ev.Name, memberId, rejection, reason, Remote(http));
        }

        return Problem(status, title, reason);
    }

    private static readonly string[] RejectionKinds = [.. Enum.GetValues<Rejection>().Select(r => $"rejected {r}")];

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

    [LoggerMessage(EventId = 1009, Level = LogLevel.Debug, Message = "A sender at {RemoteIp} hung up before its body was read")]
    private static partial void LogSenderGone(ILogger logger, System.Net.IPAddress? remoteIp);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Warning, Message = "{EventName} from {MemberId} kept with fields that did not parse: {Problems}")]
    private static partial void LogFieldProblems(ILogger logger, string eventName, string? memberId, string problems);
}

/// <summary>The 200 answer: the journal id, and whether this delivery was a repeat.</summary>
public sealed record ReceiptResponse(long Id, bool Duplicate);

[System.Text.Json.Serialization.JsonSerializable(typeof(ReceiptResponse))]
[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
internal sealed partial class ReceivingJson : System.Text.Json.Serialization.JsonSerializerContext;
